// Vitest setup: jest-dom matchers, and Testing Library's DOM cleanup after each test.
import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());
