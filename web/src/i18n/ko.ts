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
  // Read receipts: seen by, unread numbers, jump to latest
  'seen.seen': '읽음',
  'seen.unread.one': '{count}명 안 읽음',
  'seen.unread.other': '{count}명 안 읽음',
  'seen.dialog': '읽은 사람',
  'seen.read': '읽음',
  'seen.notRead': '아직 안 읽음',
  'seen.nobody': '없음',
  'seen.jump': '최신 메시지로 이동',
  'seen.newBelow.one': '새 메시지 {count}개',
  'seen.newBelow.other': '새 메시지 {count}개',
};
