/**
 * The parts of TensorFlow's event.proto and summary.proto a scalar writer needs, field numbers as
 * TensorFlow defines them (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
 * Encoded with protobufjs, so the wire format is a protobuf library's, not ours.
 */
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package tensorboard;

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
}

message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
    }
  }
  repeated Value value = 1;
}

message SessionLog {
  enum SessionStatus {
    STATUS_UNSPECIFIED = 0;
    START = 1;
    STOP = 2;
    CHECKPOINT = 3;
  }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
    SessionLog session_log = 7;
  }
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
export const EventType = root.lookupType('tensorboard.Event');

export const SESSION_START = 1;

export interface EventFields {
  wall_time: number;
  step: number;
  file_version?: string;
  summary?: { value: Array<{ tag: string; simple_value: number }> };
  session_log?: { status: number; msg?: string };
}

export function encodeEvent(event: EventFields): Uint8Array {
  return EventType.encode(EventType.fromObject(event)).finish();
}
