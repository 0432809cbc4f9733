import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, webhookOptions } from './config.ts';
import { CRONTAB, createServices, listenAll, tasksOf } from './modules/services.ts';
import { systemClock } from './platform/clock.ts';
import { loggableError } from './platform/db.ts';
import { Jobs } from './platform/jobs.ts';
import { Cursors } from './platform/pagination.ts';
import { openRuntime } from './platform/runtime.ts';

/** `npm run worker`: a process that only runs background jobs (scale them apart from the API). */
async function main(): Promise<void> {
  const runtime = await openRuntime(loadConfig(process.env), (line) => console.log(line));
  const { config } = runtime;
  let jobs: Jobs | undefined;
  const services = createServices({
    db: runtime.db,
    cursors: new Cursors(config.CURSOR_SECRET!),
    clock: systemClock,
    jobs: () => jobs,
    webhooks: webhookOptions(config),
  });
  jobs = await Jobs.start({
    connectionString: runtime.ownerUrl,
    runWorkers: true,
    concurrency: config.JOBS_CONCURRENCY,
    tasks: tasksOf(services),
    crontab: CRONTAB,
    log: (level, message) => console.error(`[${level}] ${message}`),
    onTaskError: (task, error) => console.error(`[error] ${task}:`, loggableError(error)),
  });
  const stopListening = await listenAll(services, (channel, error) =>
    console.error(`[warning] ${channel} listener: ${error.message}`),
  );
  console.log(`Vínculo worker running (${config.JOBS_CONCURRENCY} at a time)`);
  closeWithGrace({ delay: 30_000 }, async () => {
    await stopListening();
    await jobs?.stop(25_000); // lets running jobs finish, within the 30 s grace
    await runtime.close();
  });
}

main().catch((error: unknown) => {
  console.error(
    error instanceof ConfigError
      ? error.message
      : `vinculo worker failed to start: ${(error as Error).message}`,
  );
  process.exit(1);
});
