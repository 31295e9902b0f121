/**
 * AWS cost benchmark (`npm run bench -- cost`): the cost model of the full engine over the default window of
 * `npm start`. The local runtime counts DynamoDB request units, SQS requests, Step Functions state
 * transitions, Lambda invocations and GB-seconds, and EventBridge Scheduler invocations
 * (`local/runtime/cost-model.ts`); they are priced at the public list prices in `PRICES` (us-east-1, with
 * their date). Figures in US dollars: per trade (the run's usage / signals acted on, active minutes
 * included), per 1,000 trades, and per idle month (one measured idle scheduled minute × 43,200).
 */
import { parseCliArgs, prepareRun } from '../local/cli.js';
import { PRICES } from '../local/runtime/cost-model.js';
import { runFullReplay } from '../local/runtime/full-replay.js';
import { progress, sig } from './lib/progress.js';

/** Runs the benchmark and returns its figures. */
export async function run(): Promise<Record<string, number | string>> {
  const parsed = parseCliArgs(['--quiet']);
  if (parsed.kind !== 'run') throw new Error(`default options did not parse: ${JSON.stringify(parsed)}`);
  const prepared = await prepareRun(parsed.options);
  progress('full engine over the default window (about 1.5 minutes)');
  const full = await runFullReplay(prepared.input);
  const cm = full.costModel;
  if (!cm) throw new Error('the full replay returned no cost model');
  const u = cm.perTrade.usage;
  return {
    prices_as_of: PRICES.asOf,
    region: PRICES.region,
    trades: cm.trades,
    active_minutes: cm.activeMinutes,
    per_trade_dynamo_read_units: sig(u.dynamoReadUnits, 4),
    per_trade_dynamo_write_units: sig(u.dynamoWriteUnits, 4),
    per_trade_sqs_requests: sig(u.sqsFifoRequests + u.sqsStandardRequests, 4),
    per_trade_state_transitions: sig(u.stateTransitions, 4),
    per_trade_lambda_invocations: sig(u.lambdaInvocations, 4),
    per_trade_lambda_gb_seconds: sig(u.lambdaGbSeconds, 4),
    per_trade_usd: sig(cm.perTrade.cost.total, 4),
    per_trade_usd_lambda: sig(cm.perTrade.cost.lambda, 4),
    per_trade_usd_dynamodb: sig(cm.perTrade.cost.dynamodb, 4),
    per_trade_usd_step_functions: sig(cm.perTrade.cost.stepFunctions, 4),
    per_1000_trades_usd: sig(cm.per1000Trades.cost.total, 4),
    idle_month_usd: sig(cm.idleMonth.cost.total, 4),
    idle_month_usd_lambda: sig(cm.idleMonth.cost.lambda, 4),
    idle_month_usd_dynamodb: sig(cm.idleMonth.cost.dynamodb, 4),
    idle_month_usd_scheduler: sig(cm.idleMonth.cost.scheduler, 4),
  };
}
