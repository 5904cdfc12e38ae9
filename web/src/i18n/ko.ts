//! Korean (한국어). Typed as `Messages`, so a key added to `en.ts` and not translated here fails
//! `tsc`. Plural keys keep both variants even though Korean does not inflect for number.
import type { Messages } from './en';

/** Every Korean string of the interface, by key. */
export const ko: Messages = {
  'locale.name': '한국어',
  'locale.switch': '언어',
  'connection.label': '연결 상태',
  'connection.connected': '연결됨',
  'connection.connecting': '다시 연결하는 중…',
  'connection.disconnected': '오프라인',
  'rooms.unread.one': '읽지 않은 메시지 {count}개',
  'rooms.unread.other': '읽지 않은 메시지 {count}개',
  // Presence: the dot on avatars, the chat header's line, the setting to hide it.
  'presence.online': '온라인',
  'presence.away': '자리 비움',
  'presence.offline': '오프라인',
  'presence.lastSeen': '마지막 접속 {when}',
  'presence.hide': '내 접속 상태 숨기기',
  'presence.hidden': '다른 사람에게 오프라인으로 보입니다',
};
