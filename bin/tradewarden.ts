/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`): the `Tradewarden` stack, checked by cdk-nag's
 * AwsSolutions pack; unacknowledged findings fail the synth (report in cdk.out/).
 *
 * Context: `accounts` — the exchange accounts, e.g. `-c accounts=main:binanceusdm,hedge:okx` or a JSON
 * array of `{accountId, exchange}` (default: one paper account, `demo`). Stack parameter: `AlarmEmail`.
 */
import { createApp } from '../lib/app.js';

createApp().app.synth();
