// The experiments part raises the errors part's ValidationError (file, key path, expected, suggestion).
export { ValidationError, type ValidationErrorOptions } from '../errors/index.js';
