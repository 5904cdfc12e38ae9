//! The setting to hide one's presence: a toggle button in the top bar, `Hide my presence`
//! (`aria-pressed` while hidden). Hidden, others see the user offline without a last sighting;
//! the user still sees theirs.
import { useEffect, useState } from 'react';
import { useApi } from '../../app/ApiContext';
import { useT } from '../../i18n';

/** The toggle; shows nothing until the server said the current setting. */
export function PresenceSetting() {
  const api = useApi();
  const { t } = useT();
  const [visible, setVisible] = useState<boolean | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    let live = true;
    api
      .mySettings()
      .then((settings) => {
        if (live) setVisible(settings.presenceVisible !== false);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [api]);
  if (visible === undefined) return null;
  const toggle = () => {
    setSaving(true);
    api
      .setPresenceVisible(!visible)
      .then((settings) => setVisible(settings.presenceVisible))
      .catch(() => {})
      .finally(() => setSaving(false));
  };
  return (
    <button
      type="button"
      className={visible ? 'chip presence-toggle' : 'chip presence-toggle presence-toggle-on'}
      aria-pressed={!visible}
      disabled={saving}
      onClick={toggle}
      title={visible ? undefined : t('presence.hidden')}
    >
      {t('presence.hide')}
    </button>
  );
}
