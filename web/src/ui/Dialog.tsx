//! A modal dialog: `role="dialog"` named by its title, focus moved into it, Escape and a
//! click outside close it, focus returns to where it was.
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { CloseIcon } from './icons';
import { useT } from '../i18n';

/** Props of `Dialog`. */
export interface DialogProps {
  title: string;
  description?: string;
  onClose(): void;
  children: ReactNode;
  /** Extra class of the dialog box (a wide image view). */
  className?: string;
}

/** The dialog. */
export function Dialog({ title, description, onClose, children, className }: DialogProps) {
  const titleId = useId();
  const { t } = useT();
  const descriptionId = useId();
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  useEffect(() => {
    close.current = onClose;
  });
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    (ref.current?.querySelector<HTMLElement>('input, textarea') ?? ref.current?.querySelector<HTMLElement>('button'))?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') close.current();
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      previous?.focus?.();
    };
  }, []);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className={className ? `dialog ${className}` : 'dialog'}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descriptionId : undefined}
        ref={ref}
      >
        <div className="dialog-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="icon-button" aria-label={t('dialog.close')} onClick={onClose}>
            <CloseIcon />
          </button>
        </div>
        {description && (
          <p id={descriptionId} className="dialog-description">
            {description}
          </p>
        )}
        {children}
      </div>
    </div>
  );
}
