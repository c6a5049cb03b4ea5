/** One progress line per step, so a person (or CI log) sees where a run stopped and why. */
export interface StepLog {
  ok(label: string, detail: string): void;
  fail(label: string, detail: string, hint?: string): void;
  note(text: string): void;
  readonly passed: number;
  readonly failed: number;
}

export function createStepLog(write: (text: string) => void): StepLog {
  let passed = 0;
  let failed = 0;
  return {
    ok(label, detail) {
      passed++;
      write(`  ok    ${label}: ${detail}\n`);
    },
    fail(label, detail, hint) {
      failed++;
      write(`  FAIL  ${label}: ${detail}\n`);
      if (hint) {
        const [first, ...rest] = hint.split('\n');
        write(`        hint: ${first}\n${rest.map((r) => `              ${r}\n`).join('')}`);
      }
    },
    note(text) {
      write(`        ${text}\n`);
    },
    get passed() {
      return passed;
    },
    get failed() {
      return failed;
    },
  };
}
