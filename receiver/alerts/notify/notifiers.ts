/**
 * The three notifiers and their payloads (documented in docs/alerts.md):
 *
 *   webhook       one JSON message per evaluation with the alerts that fired, repeated or resolved
 *   slack         an incoming-webhook message (text + blocks) per evaluation, same alerts
 *   alertmanager  Alertmanager's v2 API: POST /api/v2/alerts with the alerts that fired or resolved,
 *                 and every firing alert again each resend_interval (Alertmanager resolves an alert
 *                 that is not re-sent before its endsAt)
 */
import * as os from 'node:os';
import type { AlertmanagerNotifierConfig, NotifierConfig, SlackNotifierConfig, WebhookNotifierConfig } from '../../config/alerts';
import { formatValue } from '../template';
import type { AlertInstance, Evaluation, Notice, Notifier, NotifierStats } from '../types';
import { Delivery, type Message } from './delivery';

const iso = (ms: number) => new Date(ms).toISOString();

function describeNotices(notices: Notice[]): string {
  const n = (r: Notice['reason']) => notices.filter((x) => x.reason === r).length;
  const parts: string[] = [];
  if (n('firing')) parts.push(`${n('firing')} firing`);
  if (n('repeat')) parts.push(`${n('repeat')} repeated`);
  if (n('resolved')) parts.push(`${n('resolved')} resolved`);
  return `${parts.join(', ')} alert(s)`;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

abstract class QueuedNotifier implements Notifier {
  protected readonly delivery: Delivery;

  constructor(
    readonly id: string,
    url: string,
    cfg: NotifierConfig,
    log: (line: string) => void,
  ) {
    this.delivery = new Delivery({ id: `notifier ${id}`, url, headers: cfg.headers, timeoutMs: cfg.timeoutMs, retry: cfg.retry, queueSize: cfg.queueSize, log });
  }

  abstract deliver(e: Evaluation): void;

  protected push(m: Message): void {
    this.delivery.push(m);
  }

  stats(): NotifierStats {
    return this.delivery.stats();
  }

  close(timeoutMs: number): Promise<void> {
    return this.delivery.close(timeoutMs);
  }
}

// ---------------------------------------------------------------------------------------------
// webhook

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  /** firing: started firing now; repeat: still firing (repeat_interval); resolved. */
  reason: Notice['reason'];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  startsAt: string;
  endsAt: string | null;
  fingerprint: string;
  generatorURL?: string;
}

export interface WebhookPayload {
  version: '1';
  source: 'map-delete-tracer';
  /** The notifier's id in the config. */
  notifier: string;
  /** The host the tracer runs on. */
  host: string;
  /** "firing" when any alert in the message is firing, else "resolved". */
  status: 'firing' | 'resolved';
  alerts: WebhookAlert[];
}

export function webhookPayload(id: string, notices: Notice[]): WebhookPayload {
  return {
    version: '1',
    source: 'map-delete-tracer',
    notifier: id,
    host: os.hostname(),
    status: notices.some((n) => n.status === 'firing') ? 'firing' : 'resolved',
    alerts: notices.map((n) => {
      const a: WebhookAlert = {
        status: n.status,
        reason: n.reason,
        labels: n.labels,
        annotations: n.annotations,
        value: n.value,
        startsAt: iso(n.startsAt),
        endsAt: n.endsAt !== undefined ? iso(n.endsAt) : null,
        fingerprint: n.fingerprint,
      };
      if (n.generatorUrl) a.generatorURL = n.generatorUrl;
      return a;
    }),
  };
}

export class WebhookNotifier extends QueuedNotifier {
  constructor(
    private readonly cfg: WebhookNotifierConfig,
    log: (line: string) => void,
  ) {
    super(cfg.id, cfg.url, cfg, log);
  }

  deliver(e: Evaluation): void {
    const notices = this.cfg.sendResolved ? e.notices : e.notices.filter((n) => n.reason !== 'resolved');
    for (const part of chunks(notices, this.cfg.maxAlerts)) {
      this.push({ body: JSON.stringify(webhookPayload(this.id, part)), what: describeNotices(part) });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Slack

/** Alerts shown one by one in a Slack message; the rest are counted in a last line. */
export const SLACK_MAX_ALERTS = 20;
const SLACK_TEXT_MAX = 2900;

/** Slack mrkdwn: &, < and > are escaped, everything else is shown as it is. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function slackTitle(n: Notice): string {
  return n.reason === 'resolved' ? `[RESOLVED] ${n.rule}` : n.reason === 'repeat' ? `[FIRING, still] ${n.rule}` : `[FIRING] ${n.rule}`;
}

export interface SlackPayload {
  text: string;
  blocks: ({ type: 'section'; text: { type: 'mrkdwn'; text: string } } | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] } | { type: 'divider' })[];
  channel?: string;
  username?: string;
}

export function slackPayload(notices: Notice[], opts: { channel?: string; username?: string } = {}): SlackPayload {
  const firing = notices.filter((n) => n.status === 'firing').length;
  const resolved = notices.length - firing;
  const first = notices[0];
  const summary = first?.annotations.summary ?? first?.annotations.description ?? '';
  const counts = [firing ? `${firing} firing` : '', resolved ? `${resolved} resolved` : ''].filter(Boolean).join(', ');
  const text = clip(`${notices.length === 1 ? slackTitle(first) : `[${firing ? 'FIRING' : 'RESOLVED'}] ${counts}: ${[...new Set(notices.map((n) => n.rule))].join(', ')}`}${summary ? ` — ${summary}` : ''}`, SLACK_TEXT_MAX);
  const blocks: SlackPayload['blocks'] = [];
  for (const n of notices.slice(0, SLACK_MAX_ALERTS)) {
    const when = n.reason === 'resolved' ? `fired ${iso(n.startsAt)}, resolved ${iso(n.endsAt ?? n.startsAt)}` : `since ${iso(n.startsAt)}`;
    const lines = [`*${slackEscape(slackTitle(n))}*  value *${formatValue(n.value)}*, ${when}`];
    for (const key of ['summary', 'description']) if (n.annotations[key]) lines.push(slackEscape(n.annotations[key]));
    const labels = Object.entries(n.labels)
      .filter(([k]) => k !== 'alertname')
      .map(([k, v]) => `\`${k}=${slackEscape(v).replace(/`/g, "'")}\``)
      .join(' ');
    if (labels) lines.push(labels);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(lines.join('\n'), SLACK_TEXT_MAX) } });
  }
  if (notices.length > SLACK_MAX_ALERTS) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `…and ${notices.length - SLACK_MAX_ALERTS} more alert(s)` }] });
  }
  const p: SlackPayload = { text, blocks };
  if (opts.channel) p.channel = opts.channel;
  if (opts.username) p.username = opts.username;
  return p;
}

export class SlackNotifier extends QueuedNotifier {
  constructor(
    private readonly cfg: SlackNotifierConfig,
    log: (line: string) => void,
  ) {
    super(cfg.id, cfg.url, cfg, log);
  }

  deliver(e: Evaluation): void {
    const notices = this.cfg.sendResolved ? e.notices : e.notices.filter((n) => n.reason !== 'resolved');
    if (notices.length === 0) return;
    this.push({ body: JSON.stringify(slackPayload(notices, this.cfg)), what: describeNotices(notices) });
  }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

/** What Alertmanager's POST /api/v2/alerts takes (postableAlerts). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** Alerts per POST. */
const AM_BATCH = 500;

export function alertmanagerAlert(a: AlertInstance, endsAt: number): AlertmanagerAlert {
  const out: AlertmanagerAlert = { labels: a.labels, annotations: a.annotations, startsAt: iso(a.startsAt), endsAt: iso(endsAt) };
  if (a.generatorUrl) out.generatorURL = a.generatorUrl;
  return out;
}

/** `http://am:9093` or `http://host/prefix` → `…/api/v2/alerts` (a URL that already ends so is kept). */
export function alertmanagerAlertsUrl(base: string): string {
  const u = new URL(base);
  if (!/\/api\/v2\/alerts\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  return u.toString();
}

export class AlertmanagerNotifier extends QueuedNotifier {
  private lastResend = -Infinity;
  /** How long a firing alert stays valid in Alertmanager without being sent again (as Prometheus: 4 resends). */
  private readonly validityMs: number;

  constructor(
    private readonly cfg: AlertmanagerNotifierConfig,
    evaluationIntervalMs: number,
    log: (line: string) => void,
  ) {
    super(cfg.id, alertmanagerAlertsUrl(cfg.url), cfg, log);
    this.validityMs = 4 * Math.max(cfg.resendIntervalMs, evaluationIntervalMs);
  }

  deliver(e: Evaluation): void {
    const alerts: AlertmanagerAlert[] = [];
    let what: string;
    if (e.now - this.lastResend >= this.cfg.resendIntervalMs && e.firing.length) {
      // Every firing alert (new ones included), and whatever resolved now.
      this.lastResend = e.now;
      for (const a of e.firing) alerts.push(alertmanagerAlert(a, e.now + this.validityMs));
      const resolved = e.notices.filter((n) => n.reason === 'resolved');
      for (const n of resolved) alerts.push(alertmanagerAlert(n, n.endsAt ?? e.now));
      what = `${e.firing.length} firing${resolved.length ? `, ${resolved.length} resolved` : ''} alert(s)`;
    } else {
      // Only what changed; Alertmanager repeats on its own (its repeat_interval).
      const changed = e.notices.filter((n) => n.reason !== 'repeat');
      if (changed.length === 0) return;
      for (const n of changed) alerts.push(alertmanagerAlert(n, n.reason === 'resolved' ? (n.endsAt ?? e.now) : e.now + this.validityMs));
      what = describeNotices(changed);
    }
    for (const part of chunks(alerts, AM_BATCH)) this.push({ body: JSON.stringify(part), what });
  }
}

export function makeNotifier(cfg: NotifierConfig, evaluationIntervalMs: number, log: (line: string) => void): Notifier {
  switch (cfg.type) {
    case 'webhook':
      return new WebhookNotifier(cfg, log);
    case 'slack':
      return new SlackNotifier(cfg, log);
    case 'alertmanager':
      return new AlertmanagerNotifier(cfg, evaluationIntervalMs, log);
  }
}
