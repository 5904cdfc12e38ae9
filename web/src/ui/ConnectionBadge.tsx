//! The connection status pill: `Connected`, `Reconnecting…` or `Offline`, named
//! `Connection status` for assistive technology (and browser tests).
import { useConnectionStatus, type ConnectionStatus } from '@sotong/react';

const LABELS: Record<ConnectionStatus, string> = {
  connected: 'Connected',
  connecting: 'Reconnecting…',
  disconnected: 'Offline',
};

/** The pill. */
export function ConnectionBadge() {
  const status = useConnectionStatus();
  return (
    <span className={`connection connection-${status}`} role="status" aria-label="Connection status">
      <span className="connection-dot" aria-hidden="true" />
      {LABELS[status]}
    </span>
  );
}
