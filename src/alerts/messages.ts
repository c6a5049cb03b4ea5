import type { Alert, NewAlert } from './types';

const onConnector = (connectorName: string | null) => (connectorName ? ` (connector ${connectorName})` : '');

export function siprecErrorAlert(s: {
  callSid: string;
  sessionName: string;
  connectorName: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  at: number;
}): NewAlert {
  const why = [s.errorCode, s.errorMessage].filter(Boolean).join(' ') || 'no error code or message';
  return {
    kind: 'siprec-error',
    dedupeKey: `siprec-error:${s.callSid}:${s.sessionName}`,
    severity: 'error',
    message: `SIPREC session "${s.sessionName}" on call ${s.callSid}${onConnector(s.connectorName)} failed: ${why}`,
    callSid: s.callSid,
    sessionName: s.sessionName,
    connectorName: s.connectorName,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    at: s.at,
  };
}

export function startTimeoutAlert(s: {
  callSid: string;
  sessionName: string;
  connectorName: string | null;
  timeoutMs: number;
  at: number;
}): NewAlert {
  return {
    kind: 'start-timeout',
    dedupeKey: `start-timeout:${s.callSid}:${s.sessionName}`,
    severity: 'error',
    message:
      `SIPREC session "${s.sessionName}" on call ${s.callSid}${onConnector(s.connectorName)} has not started ` +
      `${Math.round(s.timeoutMs / 1000)} s after the call was answered; check PUBLIC_BASE_URL and the connector`,
    callSid: s.callSid,
    sessionName: s.sessionName,
    connectorName: s.connectorName,
    errorCode: null,
    errorMessage: null,
    at: s.at,
  };
}

/** At most one per window (ledger-window.ts); the time makes the key unique. */
export function ledgerWriteFailedAlert(s: { callSid: string; error: unknown; at: number }): NewAlert {
  const errorMessage = s.error instanceof Error ? s.error.message : String(s.error);
  return {
    kind: 'ledger-write-failed',
    dedupeKey: `ledger-write-failed:${s.at}`,
    severity: 'critical',
    message: `The ledger could not record call ${s.callSid}: calls are answered but not recorded (${errorMessage})`,
    callSid: s.callSid,
    sessionName: null,
    connectorName: null,
    errorCode: null,
    errorMessage,
    at: s.at,
  };
}

export function errorBurstAlert(s: { connectorName: string; count: number; windowMs: number; at: number }): NewAlert {
  return {
    kind: 'error-burst',
    // The time makes it unique; "once per window" is checked against earlier bursts of the connector.
    dedupeKey: `error-burst:${s.connectorName}:${s.at}`,
    severity: 'critical',
    message: `${s.count} SIPREC errors on connector ${s.connectorName} within ${Math.round(s.windowMs / 60_000)} min`,
    callSid: null,
    sessionName: null,
    connectorName: s.connectorName,
    errorCode: null,
    errorMessage: null,
    at: s.at,
  };
}

// Slack reads <…> as links and mentions (<!channel>); its docs ask for these three escaped.
const slackEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** What an alert says, as both the webhook body and the operator API show it. */
export function alertFields(a: NewAlert | Alert) {
  return {
    kind: a.kind,
    severity: a.severity,
    message: a.message,
    callSid: a.callSid,
    sessionName: a.sessionName,
    connectorName: a.connectorName,
    errorCode: a.errorCode,
    errorMessage: a.errorMessage,
    at: new Date(a.at).toISOString(),
  };
}

/** The JSON body sent to ALERT_WEBHOOK_URL; `text` is what a Slack or Teams incoming webhook shows. */
export function alertPayload(a: NewAlert | Alert) {
  return { ...alertFields(a), text: slackEscape(`[siprec-control] ${a.severity.toUpperCase()} ${a.kind}: ${a.message}`) };
}
