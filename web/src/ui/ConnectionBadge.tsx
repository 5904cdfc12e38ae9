//! The connection status pill: `Connected`, `Reconnecting…` or `Offline` (in the interface
//! language), named `Connection status` for assistive technology (and browser tests).
import { useConnectionStatus, type ConnectionStatus } from '@sotong/react';
import type { MessageKey } from '../i18n';
import { useT } from '../i18n';

const LABELS: Record<ConnectionStatus, MessageKey> = {
  connected: 'connection.connected',
  connecting: 'connection.connecting',
  disconnected: 'connection.disconnected',
};

/** The pill. */
export function ConnectionBadge() {
  const status = useConnectionStatus();
  const { t } = useT();
  return (
    <span className={`connection connection-${status}`} role="status" aria-label={t('connection.label')}>
      <span className="connection-dot" aria-hidden="true" />
      {t(LABELS[status])}
    </span>
  );
}
