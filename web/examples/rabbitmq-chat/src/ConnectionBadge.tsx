//! The connection state, as `Connected`, `Connecting…` or `Offline`, in a status region named
//! `Connection status`.
import { useConnectionStatus, type ConnectionStatus } from '@sotong/react';

const LABELS: Record<ConnectionStatus, string> = {
  connected: 'Connected',
  connecting: 'Connecting…',
  disconnected: 'Offline',
};

/** The badge. */
export function ConnectionBadge() {
  const status = useConnectionStatus();
  return (
    <span role="status" aria-label="Connection status" className={`badge badge-${status}`}>
      {LABELS[status]}
    </span>
  );
}
