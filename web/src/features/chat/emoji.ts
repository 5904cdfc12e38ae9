//! A small built-in emoji table (about a hundred common ones by name) for `:name`
//! suggestions in the composer and the reaction picker, and the picker's "recent" list kept in
//! this browser. Kept in the app, not in @sotong/react, to keep the package small.

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
