// Vitest setup: jest-dom matchers, and Testing Library's DOM cleanup after each test.
import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

afterEach(() => cleanup());

// jsdom's document never has the window focus (`hasFocus()` is false until an element is
// focused): the app's tests run as a page in front, visible and focused, unless one says not.
vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
afterEach(() => {
  vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
});
