// jsdom's document has no window focus (`hasFocus()` is false until an element is focused):
// the tests run as a page in front, visible and focused, unless a test says otherwise.
import { afterEach, vi } from 'vitest';

vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
afterEach(() => {
  vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
});
