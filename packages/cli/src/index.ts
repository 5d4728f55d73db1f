export { EXIT } from './cli-error.ts';
export { buildProgram, main } from './program.ts';
