//! Entry point: the chat for the person the URL names, or links to choose one.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { Chooser } from './Chooser';
import { sessionFromUrl } from './people';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
const session = sessionFromUrl(window.location.search);
createRoot(root).render(<StrictMode>{session ? <App session={session} /> : <Chooser />}</StrictMode>);
