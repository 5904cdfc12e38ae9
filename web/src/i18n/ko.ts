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
  // Muting and Web Push
  'mute.mute': '대화방 알림 끄기',
  'mute.unmute': '대화방 알림 켜기',
  'mute.muted': '알림 꺼짐',
  'mute.failed': '대화방 알림 설정을 바꾸지 못했습니다. 다시 시도해 주세요.',
};
