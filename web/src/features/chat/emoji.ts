//! A small built-in emoji table (about a hundred common ones by name) for `:name`
//! suggestions in the composer and the reaction picker, and the picker's "recent" list kept in
//! this browser. Kept in the app, not in @sotong/react, to keep the package small.

import type { Locale } from '../../i18n';

/** Name → emoji; names are lower case, words joined by `_`. */
export const EMOJI: ReadonlyArray<readonly [string, string]> = [
  ['thumbsup', '👍'], ['thumbsdown', '👎'], ['heart', '❤️'], ['joy', '😂'], ['smile', '😄'], ['grin', '😁'],
  ['laughing', '😆'], ['wink', '😉'], ['blush', '😊'], ['slightly_smiling', '🙂'], ['upside_down', '🙃'],
  ['heart_eyes', '😍'], ['kissing_heart', '😘'], ['yum', '😋'], ['stuck_out_tongue', '😛'], ['thinking', '🤔'],
  ['neutral', '😐'], ['expressionless', '😑'], ['unamused', '😒'], ['roll_eyes', '🙄'], ['grimacing', '😬'],
  ['relieved', '😌'], ['pensive', '😔'], ['sleepy', '😪'], ['sleeping', '😴'], ['mask', '😷'], ['nerd', '🤓'],
  ['sunglasses', '😎'], ['confused', '😕'], ['worried', '😟'], ['frowning', '☹️'], ['open_mouth', '😮'],
  ['astonished', '😲'], ['flushed', '😳'], ['pleading', '🥺'], ['cry', '😢'], ['sob', '😭'], ['scream', '😱'],
  ['angry', '😠'], ['rage', '😡'], ['skull', '💀'], ['poop', '💩'], ['clown', '🤡'], ['ghost', '👻'],
  ['alien', '👽'], ['robot', '🤖'], ['wave', '👋'], ['ok_hand', '👌'], ['v', '✌️'], ['crossed_fingers', '🤞'],
  ['point_up', '☝️'], ['point_right', '👉'], ['clap', '👏'], ['raised_hands', '🙌'], ['pray', '🙏'],
  ['handshake', '🤝'], ['muscle', '💪'], ['eyes', '👀'], ['brain', '🧠'], ['facepalm', '🤦'], ['shrug', '🤷'],
  ['tada', '🎉'], ['confetti', '🎊'], ['balloon', '🎈'], ['gift', '🎁'], ['cake', '🎂'], ['fire', '🔥'],
  ['sparkles', '✨'], ['star', '⭐'], ['rainbow', '🌈'], ['sun', '☀️'], ['cloud', '☁️'], ['zap', '⚡'],
  ['snowflake', '❄️'], ['rocket', '🚀'], ['100', '💯'], ['check', '✅'], ['x', '❌'], ['warning', '⚠️'],
  ['question', '❓'], ['exclamation', '❗'], ['bulb', '💡'], ['memo', '📝'], ['calendar', '📅'], ['pushpin', '📌'],
  ['link', '🔗'], ['lock', '🔒'], ['key', '🔑'], ['bell', '🔔'], ['moneybag', '💰'], ['coffee', '☕'],
  ['beer', '🍺'], ['pizza', '🍕'], ['hamburger', '🍔'], ['apple', '🍎'], ['cat', '🐱'], ['dog', '🐶'],
  ['octopus', '🐙'], ['squid', '🦑'], ['seedling', '🌱'], ['rose', '🌹'], ['broken_heart', '💔'],
  ['blue_heart', '💙'], ['green_heart', '💚'], ['purple_heart', '💜'], ['hourglass', '⏳'], ['house', '🏠'],
  ['car', '🚗'], ['airplane', '✈️'], ['soccer', '⚽'], ['trophy', '🏆'], ['musical_note', '🎵'], ['camera', '📷'],
];

/**
 * Korean names of the table's emoji, for the reaction picker's labels in Korean (a screen
 * reader reads the label; the `:name` shortcodes typed in the composer stay as they are).
 */
const KOREAN_NAMES: Readonly<Record<string, string>> = {
  thumbsup: '최고', thumbsdown: '별로', heart: '하트', joy: '기쁨의 눈물', smile: '활짝 웃는 얼굴', grin: '이를 드러내고 웃는 얼굴',
  laughing: '크게 웃는 얼굴', wink: '윙크', blush: '미소 짓는 얼굴', slightly_smiling: '살짝 웃는 얼굴', upside_down: '거꾸로 된 얼굴',
  heart_eyes: '하트 눈', kissing_heart: '뽀뽀', yum: '맛있어요', stuck_out_tongue: '메롱', thinking: '생각 중',
  neutral: '무표정', expressionless: '할 말 없음', unamused: '시큰둥', roll_eyes: '눈 굴리기', grimacing: '찡그린 얼굴',
  relieved: '안도', pensive: '시무룩', sleepy: '졸림', sleeping: '잠', mask: '마스크', nerd: '범생이', sunglasses: '선글라스',
  confused: '혼란', worried: '걱정', frowning: '찌푸린 얼굴', open_mouth: '놀람', astonished: '깜짝 놀람', flushed: '당황',
  pleading: '애원', cry: '눈물', sob: '엉엉', scream: '비명', angry: '화남', rage: '분노', skull: '해골', poop: '똥',
  clown: '광대', ghost: '유령', alien: '외계인', robot: '로봇', wave: '손 흔들기', ok_hand: '오케이', v: '브이',
  crossed_fingers: '행운을 빌어요', point_up: '위쪽 가리키기', point_right: '오른쪽 가리키기', clap: '박수', raised_hands: '만세',
  pray: '부탁해요', handshake: '악수', muscle: '힘내요', eyes: '눈', brain: '뇌', facepalm: '이마 짚기', shrug: '어깨 으쓱',
  tada: '축하', confetti: '색종이', balloon: '풍선', gift: '선물', cake: '케이크', fire: '불', sparkles: '반짝', star: '별',
  rainbow: '무지개', sun: '해', cloud: '구름', zap: '번개', snowflake: '눈송이', rocket: '로켓', '100': '백점', check: '확인',
  x: '엑스', warning: '경고', question: '물음표', exclamation: '느낌표', bulb: '아이디어', memo: '메모', calendar: '달력',
  pushpin: '압정', link: '링크', lock: '자물쇠', key: '열쇠', bell: '종', moneybag: '돈주머니', coffee: '커피', beer: '맥주',
  pizza: '피자', hamburger: '햄버거', apple: '사과', cat: '고양이', dog: '강아지', octopus: '문어', squid: '오징어',
  seedling: '새싹', rose: '장미', broken_heart: '상처받은 마음', blue_heart: '파란 하트', green_heart: '초록 하트',
  purple_heart: '보라 하트', hourglass: '모래시계', house: '집', car: '자동차', airplane: '비행기', soccer: '축구',
  trophy: '트로피', musical_note: '음표', camera: '카메라',
};

/** The picker's label of an emoji by its table name, in the interface language. */
export function emojiLabel(name: string, locale: Locale): string {
  return (locale === 'ko' ? KOREAN_NAMES[name] : undefined) ?? name.replace(/_/g, ' ');
}

/** What the reaction picker offers when nothing was used recently. */
export const COMMON_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

/** Up to `limit` emoji whose name starts with (then contains) `query`, lower case. */
export function searchEmoji(query: string, limit = 8): Array<readonly [string, string]> {
  const q = query.toLowerCase();
  if (!q) return [];
  const starts = EMOJI.filter(([name]) => name.startsWith(q));
  const contains = EMOJI.filter(([name]) => !name.startsWith(q) && name.includes(q));
  return [...starts, ...contains].slice(0, limit);
}

const RECENT_KEY = 'sotong.recentEmoji';
const MAX_RECENT = 8;

/** The emoji this browser reacted with last, most recent first. */
export function recentEmoji(): string[] {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]') as unknown;
    return Array.isArray(stored) ? stored.filter((e): e is string => typeof e === 'string').slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

/** Puts `emoji` first in the recent list. */
export function noteRecentEmoji(emoji: string): void {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify([emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, MAX_RECENT)));
  } catch {
    // storage full or disabled: recents are a nicety
  }
}
