/**
 * Alerting for `run`: the engine (engine.ts) with the notifiers of the config's `alerts:`
 * section (notify/). docs/alerts.md describes the rules, the lifecycle and the payloads.
 */
import type { AlertsConfig } from '../config/alerts';
import type { CounterSource } from '../metrics/source';
import { AlertEngine } from './engine';
import { makeNotifier } from './notify/notifiers';

export { AlertEngine } from './engine';
export { alertCounting, watchedKeys } from '../config/alerts';

export interface AlertingOptions {
  source?: CounterSource;
  /** receivers.mapdelete.service_name. */
  serviceName?: string;
  log: (line: string) => void;
  now?: () => number;
}

/** An engine with the configured notifiers; call start() once tracing has begun, stop() at exit. */
export function createAlerting(config: AlertsConfig, o: AlertingOptions): AlertEngine {
  const notifiers = config.notifiers.map((n) => makeNotifier(n, config.evaluationIntervalMs, o.log));
  return new AlertEngine({ config, source: o.source, notifiers, serviceName: o.serviceName, log: o.log, now: o.now });
}
