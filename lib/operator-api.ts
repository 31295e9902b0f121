/**
 * The operator routes on the engine's HTTP API, all IAM-authorized (SigV4-signed callers with
 * `execute-api:Invoke`) and integrated with the one `api` handler (payload v2). `POST /signals` stays on
 * the intake-http function (`SignalsIngress`). Routes, requests and responses: docs/operations.md.
 */
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** The operator routes (method, path), as `functions/handlers/api.ts` serves them. */
export const OPERATOR_ROUTES: readonly (readonly ['GET' | 'POST', string])[] = [
  ['GET', '/health'],
  ['GET', '/trades'],
  ['GET', '/trades/{id}'],
  ['POST', '/trades/{id}/exit'],
  ['GET', '/analytics/performance'],
  ['GET', '/positions/health'],
  ['GET', '/lifecycle/timeouts'],
  ['GET', '/reconciliation/reports'],
  ['GET', '/reports'],
  ['GET', '/audit'],
  ['POST', '/trading-state'],
  ['POST', '/config/reload'],
  ['POST', '/reconcile'],
];

/** Properties of {@link OperatorApi}. */
export interface OperatorApiProps {
  readonly httpApi: apigw.HttpApi;
  readonly handler: lambda.IFunction;
}

/** Adds the operator routes to the HTTP API. */
export class OperatorApi extends Construct {
  constructor(scope: Construct, id: string, props: OperatorApiProps) {
    super(scope, id);
    const integration = new HttpLambdaIntegration('Api', props.handler);
    const authorizer = new HttpIamAuthorizer();
    for (const [method, path] of OPERATOR_ROUTES) {
      props.httpApi.addRoutes({
        path,
        methods: [method === 'GET' ? apigw.HttpMethod.GET : apigw.HttpMethod.POST],
        integration,
        authorizer,
      });
    }
  }
}
