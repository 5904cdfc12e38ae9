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
  // Message search (the Search messages dialog, Ctrl-K / Cmd-K).
  'search.open': '메시지 검색',
  'search.title': '메시지 검색',
  'search.input': '검색',
  'search.placeholder': '모든 대화에서 메시지 단어 검색',
  'search.scope': '검색 범위',
  'search.scope.all': '모든 대화',
  'search.scope.room': '이 대화 ({name})',
  'search.results': '검색 결과',
  'search.searching': '검색 중…',
  'search.none': '메시지를 찾지 못했습니다',
  'search.noneRecent': '최근 메시지에서 찾지 못했습니다',
  'search.more': '결과 더 보기',
  'search.failed': '검색하지 못했습니다. 다시 시도해 주세요.',
};
