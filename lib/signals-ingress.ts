/**
 * How signals enter the engine: an HTTP API (`POST /signals`, IAM-authorized: callers sign with SigV4)
 * invoking the intake-http handler, and the standard signals queue consumed by the intake-sqs handler
 * with partial batch failures.
 */
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Access-log fields of the HTTP API stage (JSON, one line per request). */
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  integrationError: '$context.integrationErrorMessage',
});

/** Properties of {@link SignalsIngress}. */
export interface SignalsIngressProps {
  readonly intakeHttp: lambda.IFunction;
  readonly intakeSqs: lambda.IFunction;
  readonly signalsQueue: sqs.IQueue;
  /** Requests per second allowed on the API (steady state; bursts up to twice this). */
  readonly rateLimit?: number;
}

/** The HTTP API and the queue subscription of the two intake handlers. */
export class SignalsIngress extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SignalsIngressProps) {
    super(scope, id);
    const rate = props.rateLimit ?? 20;
    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'Tradewarden signal intake (IAM-authorized)',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: rate, burstLimit: rate * 2 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });
    this.api.addRoutes({
      path: '/signals',
      methods: [apigw.HttpMethod.POST],
      integration: new HttpLambdaIntegration('IntakeHttp', props.intakeHttp),
      authorizer: new HttpIamAuthorizer(),
    });
    props.intakeSqs.addEventSource(
      new SqsEventSource(props.signalsQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
      }),
    );
    new CfnOutput(this, 'SignalsUrl', {
      value: `${this.api.apiEndpoint}/signals`,
      description: 'POST signals here (SigV4-signed, execute-api:Invoke)',
    });
    new CfnOutput(this, 'SignalsQueueUrl', { value: props.signalsQueue.queueUrl });
  }
}
