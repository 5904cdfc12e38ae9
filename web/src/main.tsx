//! Entry point: mounts the app under StrictMode (the realtime layer is built to survive its
//! double effects without a second SUBSCRIBE or socket).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
