//! The actions on a message: a `Message actions` button opening a small menu (`Reply`,
//! `React` on every message; `Edit`, `Delete` too on the user's own), reachable and usable by keyboard (arrows move, Escape closes and
//! gives focus back to the button), and the confirmation `Dialog` a delete asks for. The menu
//! opens upwards when the log has no room for it below the button.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { Dialog } from '../../ui/Dialog';
import { useT } from '../../i18n';
import { MoreIcon } from '../../ui/icons';

/** Props of `MessageActions`. */
export interface MessageActionsProps {
  onReply(): void;
  onReact(): void;
  /** Only on the user's own messages. */
  onEdit?(): void;
  onDelete?(): void;
}

/** Room the menu needs below its button (four items and padding), in px. */
const MENU_HEIGHT = 176;

/** The button and its menu. */
export function MessageActions({ onReply, onReact, onEdit, onDelete }: MessageActionsProps) {
  const [open, setOpen] = useState(false);
  const [upwards, setUpwards] = useState(false);
  const menuId = useId();
  const { t } = useT();
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const onPointer = (e: PointerEvent) => {
      if (!menu.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', onPointer);
    return () => document.removeEventListener('pointerdown', onPointer);
  }, [open]);

  const close = () => {
    setOpen(false);
    button.current?.focus();
  };

  const onMenuKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const items = [...(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      items[(at + step + items.length) % items.length]?.focus();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };

  const choose = (action: () => void) => () => {
    setOpen(false);
    action();
  };

  return (
    <div className="message-actions">
      <button
        ref={button}
        type="button"
        className="icon-button actions-button"
        aria-label={t('actions.label')}
        title={t('actions.label')}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => {
          const el = button.current;
          const scroller = el?.closest('.log');
          if (el && scroller) setUpwards(el.getBoundingClientRect().bottom + MENU_HEIGHT > scroller.getBoundingClientRect().bottom);
          setOpen((o) => !o);
        }}
      >
        <MoreIcon />
      </button>
      {open && (
        <div ref={menu} id={menuId} role="menu" aria-label={t('actions.label')} className={upwards ? 'actions-menu upwards' : 'actions-menu'} onKeyDown={onMenuKey}>
          <button type="button" role="menuitem" onClick={choose(onReply)}>
            {t('actions.reply')}
          </button>
          <button type="button" role="menuitem" onClick={choose(onReact)}>
            {t('actions.react')}
          </button>
          {onEdit && (
            <button type="button" role="menuitem" onClick={choose(onEdit)}>
              {t('actions.edit')}
            </button>
          )}
          {onDelete && (
            <button type="button" role="menuitem" className="danger" onClick={choose(onDelete)}>
              {t('actions.delete')}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/** Props of `ConfirmDelete`. */
export interface ConfirmDeleteProps {
  onConfirm(): void;
  onClose(): void;
}

/** "Delete message?": the app's dialog, Cancel first so Enter on open does not delete. */
export function ConfirmDelete({ onConfirm, onClose }: ConfirmDeleteProps) {
  const { t } = useT();
  return (
    <Dialog title={t('actions.confirmTitle')} description={t('actions.confirmText')} onClose={onClose}>
      <div className="dialog-actions">
        <button type="button" className="button secondary" onClick={onClose}>
          {t('dialog.cancel')}
        </button>
        <button
          type="button"
          className="button danger"
          onClick={() => {
            onConfirm();
            onClose();
          }}
        >
          {t('actions.delete')}
        </button>
      </div>
    </Dialog>
  );
}
