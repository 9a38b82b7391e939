// The CodeMirror language mode for each polyrun language (the page and <polyrun-playground>).
import { StreamLanguage, javascript, python, php, lua, ruby } from './vendor.js';

const MODES = {
  javascript: () => javascript(),
  python: () => python(),
  php: () => php(),
  lua: () => StreamLanguage.define(lua),
  ruby: () => StreamLanguage.define(ruby),
};

/** The editor extension for language id `lang` (none for a language without a mode). */
export function languageMode(lang) {
  return MODES[lang]?.() ?? [];
}
