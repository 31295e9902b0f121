/**
 * Where the daily reporter publishes: the SNS topic named by `REPORT_TOPIC_ARN` (the alarm/report topic),
 * built on first use. Tests and the local runtime replace it with {@link setReportPublisher}.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { ReportPublisher } from '../../services/reporting.js';
import { parseEnv, required } from './env.js';
import { tracer } from './powertools.js';

let current: ReportPublisher | undefined;

/** Replaces the publisher; `undefined` makes the next call build the SNS publisher from the environment. */
export function setReportPublisher(p: ReportPublisher | undefined): void {
  current = p;
}

/** SNS subjects are at most 100 printable ASCII characters. */
function snsSubject(subject: string): string {
  return subject.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

/** The current publisher (SNS from the environment on first use). */
export function getReportPublisher(): ReportPublisher {
  if (current) return current;
  const topicArn = required(parseEnv(), 'REPORT_TOPIC_ARN');
  const sns = tracer.captureAWSv3Client(new SNSClient({}));
  current = {
    async publish(subject, message) {
      await sns.send(
        new PublishCommand({ TopicArn: topicArn, Subject: snsSubject(subject), Message: message }),
      );
    },
  };
  return current;
}
