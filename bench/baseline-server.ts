/**
 * The baseline every ratio is measured against: bare Express 5 with `express.urlencoded`, answering a
 * fixed TwiML string, with no signature check and no database. Express defaults are left as they
 * are (etag, x-powered-by): this is what "Express itself allows", not a tuned server.
 */
import express from 'express';

// Roughly the size of siprec-control's answer to the voice webhook (two <Siprec>, one <Redirect>).
const FIXED_TWIML =
  '<?xml version="1.0" encoding="UTF-8"?><Response><Start>' +
  '<Siprec name="gridspace" connectorName="Gridspace_1" track="both_tracks" statusCallback="https://calls.example.com/siprec/twilio/siprec-status#rc=5&amp;rp=ct,rt,5xx" statusCallbackMethod="POST">' +
  '<Parameter name="Caller" value="+14155550100"/><Parameter name="Team" value="sales"/></Siprec>' +
  '<Siprec name="compliance" connectorName="Compliance_SRS" statusCallback="https://calls.example.com/siprec/twilio/siprec-status#rc=5&amp;rp=ct,rt,5xx" statusCallbackMethod="POST"/>' +
  '</Start><Redirect method="POST">https://ivr.example.com/voice</Redirect></Response>';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error('baseline-server needs PORT');

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(function fixedTwiml(_req, res) {
  res.type('text/xml').send(FIXED_TWIML);
});
const server = app.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  // Keep-alive sockets from the load generator would hold close() open.
  server.closeAllConnections();
});
