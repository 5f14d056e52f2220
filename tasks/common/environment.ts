// The task commands' environment, read here and nowhere else in tasks/ (the engine's own
// variables are its tuning's: engine/plans/tuning.ts). What each is:
//   LBD_COMMIT          the commit a run file or bench JSON records where the copy has no .git
//                       (the GPU bundle), set by whoever packed it
//   LBD_DAWN_WARNINGS   `show`: keep Dawn's two start-up warnings on stderr (entry.ts)
//   PORT                the page server's port (npm run web; default 8080)
//   SLURM_ARRAY_TASK_ID / _COUNT / _MIN, JOB_COMPLETION_INDEX, LBD_SHARD_COUNT
//                       the shard of a job array (grid.ts resolveShard)
//   LBD_FILTERED_CHILD, LBD_STDERR_COLUMNS
//                       set by an entry point for the child it re-runs as (entry.ts), not by users
export const environment = (): NodeJS.ProcessEnv => process.env;

export const commitFromEnvironment = (): string | undefined => process.env.LBD_COMMIT;
export const showDawnWarnings = (): boolean => process.env.LBD_DAWN_WARNINGS === 'show';
export const pagePort = (): number => Number(process.env.PORT ?? 8080);
/** The parent's pid when this process is an entry point's filtered child. */
export const filteredChildOf = (): string | undefined => process.env.LBD_FILTERED_CHILD;
export const parentStderrColumns = (): number | undefined => (process.env.LBD_STDERR_COLUMNS ? Number(process.env.LBD_STDERR_COLUMNS) : undefined);
