/** What the alert engine hands to notifiers (docs/alerts.md). */

export type Labels = Record<string, string>;

/** One alert as notifiers see it: a rule's series, firing or resolved. */
export interface AlertInstance {
  /** The rule's name (also labels.alertname). */
  rule: string;
  status: 'firing' | 'resolved';
  /** alertname, the grouping labels, the rule's labels, external labels. */
  labels: Labels;
  /** Rendered with the alert's labels and value. */
  annotations: Labels;
  /** The rule's value at the last evaluation (a count, a fraction, a length). */
  value: number;
  /** When it started firing (ms since the epoch). */
  startsAt: number;
  /** When it resolved; undefined while firing. */
  endsAt?: number;
  /** 16 hex digits identifying the label set. */
  fingerprint: string;
  generatorUrl?: string;
}

/** Why a notifier hears about an alert now. */
export type NoticeReason = 'firing' | 'repeat' | 'resolved';

export interface Notice extends AlertInstance {
  reason: NoticeReason;
}

/** What one evaluation produced for one notifier. */
export interface Evaluation {
  now: number;
  /** Alerts that started firing or resolved, and repeats that are due. */
  notices: Notice[];
  /** Every alert firing now (after this evaluation) among the rules routed to the notifier. */
  firing: AlertInstance[];
}

export interface NotifierStats {
  /** Messages delivered (2xx). */
  sent: number;
  /** Messages given up on after retries, or refused by the receiver (4xx). */
  failed: number;
  /** Messages dropped because the queue was full (or left at exit). */
  dropped: number;
  /** Attempts repeated after a failure. */
  retries: number;
  /** Messages waiting now. */
  queued: number;
  lastError?: string;
}

/**
 * A notifier never blocks the engine: deliver() only queues messages (bounded), and sending
 * happens in the background with timeouts and retries.
 */
export interface Notifier {
  readonly id: string;
  deliver(e: Evaluation): void;
  stats(): NotifierStats;
  /** Stops taking messages and waits up to timeoutMs for the queue to drain; the rest is dropped. */
  close(timeoutMs: number): Promise<void>;
}
