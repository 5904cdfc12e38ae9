//! Muting a room from its chat header: a toggle (`aria-pressed`) that asks the server
//! (`PUT`/`DELETE /api/rooms/{id}/mute`). The room's `muted` flag comes back through the room
//! notification the server sends every connection of the user, so every tab agrees; a muted
//! room's messages are counted but raise no toast or desktop notification unless they mention
//! the user.
import { useState } from 'react';
import { useApi } from '../../app/ApiContext';
import { useT } from '../../i18n';
import { BellIcon, BellOffIcon } from '../../ui/icons';

/** Props of `MuteButton`. */
export interface MuteButtonProps {
  roomId: number;
  muted: boolean;
}

/** The header's mute toggle. */
export function MuteButton({ roomId, muted }: MuteButtonProps) {
  const api = useApi();
  const { t } = useT();
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const toggle = () => {
    setBusy(true);
    setFailed(false);
    api
      .setMuted(roomId, !muted)
      .catch(() => setFailed(true))
      .finally(() => setBusy(false));
  };
  const label = muted ? t('mute.unmute') : t('mute.mute');
  return (
    <>
      <button type="button" className="icon-button mute-toggle" aria-pressed={muted} aria-label={label} title={label} disabled={busy} onClick={toggle}>
        {muted ? <BellOffIcon /> : <BellIcon />}
      </button>
      {failed && (
        <p role="alert" className="mute-error">
          {t('mute.failed')}
        </p>
      )}
    </>
  );
}
