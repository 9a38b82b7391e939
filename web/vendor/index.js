// The third-party code of the playground page, bundled by esbuild into the site's vendor.js
// (`scripts/web build`): CodeMirror 6 with a mode per language, and xterm.js.
export { EditorView, basicSetup } from 'codemirror';
export { EditorState, Compartment, StateEffect, StateField, RangeSet, Prec } from '@codemirror/state';
export { Decoration, GutterMarker, gutterLineClass, keymap } from '@codemirror/view';
export { StreamLanguage } from '@codemirror/language';
export { javascript } from '@codemirror/lang-javascript';
export { python } from '@codemirror/lang-python';
export { php } from '@codemirror/lang-php';
export { lua } from '@codemirror/legacy-modes/mode/lua';
export { ruby } from '@codemirror/legacy-modes/mode/ruby';
export { oneDark } from '@codemirror/theme-one-dark';
export { Terminal } from '@xterm/xterm';
export { FitAddon } from '@xterm/addon-fit';
