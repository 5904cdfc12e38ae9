//! The language switcher: a `select` named `Language` (`언어` in Korean) on the login screen and
//! in the top bar. Each language is offered under its own name (`English`, `한국어`), so a person
//! who cannot read the current one still finds theirs. The choice is remembered (see `i18n`).
import { LOCALES, useT, type Locale } from '../i18n';
import { en } from '../i18n/en';
import { ko } from '../i18n/ko';

/** Each language's name in itself, whatever the interface language is. */
const OWN_NAMES: Record<Locale, string> = { en: en['locale.name'], ko: ko['locale.name'] };

/** Props of `LanguageSwitch`. */
export interface LanguageSwitchProps {
  className?: string;
}

/** The switcher. */
export function LanguageSwitch({ className }: LanguageSwitchProps) {
  const { t, locale, setLocale } = useT();
  return (
    <label className={className ? `language ${className}` : 'language'}>
      <GlobeIcon />
      <select aria-label={t('locale.switch')} title={t('locale.switch')} value={locale} onChange={(e) => setLocale(e.target.value as Locale)}>
        {LOCALES.map((option) => (
          <option key={option} value={option} lang={option}>
            {OWN_NAMES[option]}
          </option>
        ))}
      </select>
    </label>
  );
}

function GlobeIcon() {
  return (
    <svg width={16} height={16} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <circle cx="12" cy="12" r="10" />
      <path d="M2 12h20M12 2a15 15 0 0 1 4 10 15 15 0 0 1-4 10 15 15 0 0 1-4-10 15 15 0 0 1 4-10z" />
    </svg>
  );
}
