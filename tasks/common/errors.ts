// UserError marks a problem the user can fix (an option, a file): the entry points print its one
// line and exit non-zero (runMain, tasks/common/entry.ts), while any other error keeps its stack.

/** An error in what the user gave (options, files): shown as one line, no stack. */
export class UserError extends Error {
  constructor(message: string) { super(message); this.name = 'UserError'; }
}
