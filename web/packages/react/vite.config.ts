//! Builds the package as one ES module (`dist/index.js`) with React and `@stomp/stompjs` left
//! to the app (peer dependencies, never bundled); `tsc -p tsconfig.build.json` writes the
//! types beside it. Vitest runs the unit tests in jsdom.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  build: {
    lib: { entry: 'src/index.ts', formats: ['es'], fileName: () => 'index.js' },
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: {
      external: ['react', 'react/jsx-runtime', 'react-dom', '@stomp/stompjs'],
    },
  },
  esbuild: { jsx: 'automatic' },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
  },
});
