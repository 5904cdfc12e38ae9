//! Editing a message in place: the line becomes a text box with the message's text. Enter
//! saves, Shift+Enter breaks the line, Escape cancels; as in the composer, an Enter that ends
//! an IME composition (Korean, Japanese, Chinese input) only ends the composition.
import { useRef, useState, type KeyboardEvent } from 'react';
import { MAX_LENGTH } from './Composer';
import { useT } from '../../i18n';

/** Props of `MessageEditor`. */
export interface MessageEditorProps {
  initialText: string;
  /** Called with the trimmed text when it is not empty. */
  onSave(text: string): void;
  onCancel(): void;
}

/** The in-place editor. */
export function MessageEditor({ initialText, onSave, onCancel }: MessageEditorProps) {
  const [text, setText] = useState(initialText);
  const composing = useRef(false);
  const { t } = useT();

  const save = () => {
    const value = text.trim();
    if (!value) return;
    if (value === initialText) onCancel();
    else onSave(value);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      onCancel();
      return;
    }
    if (e.key !== 'Enter' || e.shiftKey) return;
    // keyCode 229: the keydown that Safari and some IMEs send while a composition is open.
    if (e.nativeEvent.isComposing || composing.current || e.keyCode === 229) return;
    e.preventDefault();
    save();
  };

  return (
    <div className="message-editor">
      <textarea
        aria-label={t('editor.label')}
        value={text}
        maxLength={MAX_LENGTH}
        rows={Math.min(6, Math.max(1, text.split('\n').length))}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onCompositionStart={() => {
          composing.current = true;
        }}
        onCompositionEnd={() => {
          composing.current = false;
        }}
        autoFocus
        onFocus={(e) => e.currentTarget.setSelectionRange(e.currentTarget.value.length, e.currentTarget.value.length)}
      />
      <div className="editor-actions">
        <span className="editor-hint">{t('editor.hint')}</span>
        <button type="button" className="button ghost" onClick={onCancel}>
          {t('dialog.cancel')}
        </button>
        <button type="button" className="button primary" onClick={save} disabled={!text.trim()}>
          {t('editor.save')}
        </button>
      </div>
    </div>
  );
}
