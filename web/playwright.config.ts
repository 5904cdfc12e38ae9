// Playwright (runner only): Debian's Chromium, driven through playwright-core's protocol.
// No browser download: `executablePath` points at the system browser (CHROMIUM_PATH to override).
// Each test starts its own sotong server (e2e/server.ts), so tests run one at a time on this
// small machine. Project `e2e` is the test suite; project `screenshots` renders docs/screenshots;
// project `example-rabbitmq` tests the RabbitMQ example app against the machine's RabbitMQ.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  timeout: 90_000,
  expect: { timeout: 15_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    // English unless a test asks for Korean: the interface follows the browser's language.
    locale: 'en-US',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
    viewport: { width: 1280, height: 800 },
    trace: 'off',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'e2e', testMatch: /.*\.e2e\.ts$/ },
    { name: 'screenshots', testMatch: /screenshots\.ts$/ },
    // The RabbitMQ example app (examples/rabbitmq-chat) on a real RabbitMQ Web-STOMP.
    { name: 'example-rabbitmq', testDir: 'examples/rabbitmq-chat/e2e', testMatch: /.*\.e2e\.ts$/ },
  ],
});
