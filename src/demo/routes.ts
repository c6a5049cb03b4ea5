/** The demo's routes file: one of each continuation, one GET status callback, one or two recorders. */
export const DEMO_NUMBERS = { sales: '+15550001111', support: '+15550002222', other: '+15550009999' } as const;

export const DEMO_ROUTES = {
  routes: [
    {
      to: [DEMO_NUMBERS.sales],
      siprec: [
        { connectorName: 'Gridspace_1', name: 'gridspace', track: 'both_tracks', parameters: { Caller: '{From}', Team: 'sales' } },
        { connectorName: 'Compliance_SRS', name: 'compliance', track: 'both_tracks', statusCallbackMethod: 'GET' },
      ],
      then: { dial: '+15551230000' },
    },
    {
      to: [DEMO_NUMBERS.support],
      siprec: [{ connectorName: 'Compliance_SRS', name: 'compliance', track: 'both_tracks' }],
      then: { enqueue: 'support' },
    },
    {
      siprec: [{ connectorName: 'Gridspace_1', name: 'gridspace', track: 'inbound_track' }],
      then: { redirect: 'https://ivr.example.com/voice' },
    },
  ],
};
