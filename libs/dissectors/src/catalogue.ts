// The KFL field catalogue: every variable a filter may name, with its type. Dissectors fill the
// protocol-specific ones into `entry.attrs` under exactly these names, and KFL type-checks filters
// against this list, so it is the single source of truth for variable names.
// Source: kubeshark-notes §1.1 (KFL2 reference), plus a few Tapwire extensions marked as such.

export type FieldType =
  | 'string'
  | 'int'
  | 'double'
  | 'bool'
  | 'timestamp'
  | 'duration'
  | 'bytes'
  | 'list<string>'
  | 'map<string,string>'

export interface CatalogueField {
  readonly name: string
  readonly type: FieldType
  readonly description: string
  /** Lower-case protocol id the field belongs to; absent for fields every entry has. */
  readonly protocol?: string
}

type Row = readonly [name: string, type: FieldType, description: string]

function group(protocol: string | undefined, rows: readonly Row[]): CatalogueField[] {
  return rows.map(([name, type, description]) =>
    protocol === undefined ? { name, type, description } : { name, type, description, protocol }
  )
}

const both = (f: (side: 'src' | 'dst', peer: string) => Row[]): Row[] => [
  ...f('src', 'source'),
  ...f('dst', 'destination'),
]

const NETWORK: Row[] = [
  ...both((s, p) => [
    [`${s}.ip`, 'string', `IP address of the ${p} peer`],
    [`${s}.port`, 'int', `TCP/UDP port of the ${p} peer`],
  ]),
  ['protocol', 'string', 'Detected protocol, upper case ("HTTP", "DNS", "TCP")'],
  ['proto', 'string', 'Detected protocol id, lower case ("http", "dns") (Tapwire)'],
]

const KUBERNETES: Row[] = [
  ...both((s, p) => [
    [`${s}.pod.name`, 'string', `Pod name of the ${p} peer`],
    [
      `${s}.pod.namespace`,
      'string',
      `Pod namespace of the ${p} peer (falls back to the service's)`,
    ],
    [`${s}.service.name`, 'string', `Service name of the ${p} peer`],
    [`${s}.service.namespace`, 'string', `Service namespace of the ${p} peer`],
    [`${s}.name`, 'string', `Summary name of the ${p} peer (pod > service)`],
    [`${s}.namespace`, 'string', `Namespace of the ${p} peer (pod, else service)`],
    [`${s}.node`, 'string', `Node name of the ${p} peer (Tapwire)`],
    [`${s}.dns`, 'string', `DNS resolution of the ${p} peer's IP`],
  ]),
  ['namespaces', 'list<string>', 'All namespaces involved (source and destination)'],
  ['pods', 'list<string>', 'All pods involved (source and destination)'],
  ['services', 'list<string>', 'All services involved (source and destination)'],
  ['node', 'map<string,string>', 'Capturing node: node["name"], node["ip"]'],
  ['node_name', 'string', 'Name of the capturing node'],
  ['node_ip', 'string', 'IP of the capturing node'],
  ['local_node_name', 'string', 'Node of the local (source) peer'],
  ['remote_node_name', 'string', 'Node of the remote (destination) peer'],
  ['local_labels', 'map<string,string>', 'Kubernetes labels of the local (source) peer'],
  ['local_annotations', 'map<string,string>', 'Kubernetes annotations of the local peer'],
  ['remote_labels', 'map<string,string>', 'Kubernetes labels of the remote (destination) peer'],
  ['remote_annotations', 'map<string,string>', 'Kubernetes annotations of the remote peer'],
  ['local_process_name', 'string', 'Process name of the local peer (eBPF)'],
  ['remote_process_name', 'string', 'Process name of the remote peer (eBPF)'],
  ['dns_resolutions', 'list<string>', 'All DNS resolutions of both peers, deduplicated'],
  ['local_resolution_status', 'string', '"" when resolved, else no_node_mapping, rpc_error, ...'],
  ['remote_resolution_status', 'string', '"" when resolved, else no_node_mapping, rpc_error, ...'],
]

const IDENTITY: Row[] = [
  ['id', 'string', 'Entry id, <node>/<flow_id>/<index> (Tapwire: a string, not an int)'],
  ['node_id', 'string', 'Identifier of the node that captured the entry'],
  ['index', 'int', 'Entry index within its flow'],
  ['stream', 'string', 'Stream identifier (hex string)'],
  ['timestamp', 'timestamp', 'Time of the first request packet (UTC)'],
  ['elapsed_time', 'int', 'Request-to-response latency in microseconds'],
  ['worker', 'string', 'Worker that dissected the entry'],
  ['conn_id', 'int', 'L4 connection cross-reference id'],
  ['flow_id', 'int', 'L4 flow cross-reference id'],
  ['has_pcap', 'bool', 'PCAP available for the entry'],
  ['capture_source', 'string', 'unspecified, af_packet, ebpf or ebpf_tls'],
  ['capture_backend', 'string', 'af_packet or ebpf'],
  ['capture_source_code', 'int', '0=unspecified, 1=af_packet, 2=ebpf, 3=ebpf_tls'],
  ['capture', 'map<string,string>', 'capture["source"], capture["backend"]'],
]

// Protocol flags: true when the entry's protocol matches (`http` also for gRPC and GraphQL calls).
const FLAGS: Row[] = [
  ['http', 'bool', 'HTTP/1.x or HTTP/2 call (also true for gRPC and GraphQL)'],
  ['grpc', 'bool', 'gRPC call'],
  ['gql', 'bool', 'GraphQL call (v1 or v2)'],
  ['gqlv1', 'bool', 'GraphQL over HTTP/1.x'],
  ['gqlv2', 'bool', 'GraphQL over HTTP/2'],
  ['ws', 'bool', 'WebSocket message'],
  ['dns', 'bool', 'DNS query/response'],
  ['tls', 'bool', 'TLS'],
  ['tlsx', 'bool', 'TLS handshake entry'],
  ['tcp', 'bool', 'Raw TCP entry'],
  ['udp', 'bool', 'Raw UDP entry'],
  ['sctp', 'bool', 'SCTP entry'],
  ['icmp', 'bool', 'ICMP message'],
  ['redis', 'bool', 'Redis command'],
  ['kafka', 'bool', 'Kafka request'],
  ['amqp', 'bool', 'AMQP method'],
  ['ldap', 'bool', 'LDAP operation'],
  ['radius', 'bool', 'RADIUS packet'],
  ['diameter', 'bool', 'Diameter message'],
  ['mongodb', 'bool', 'MongoDB command'],
  ['mysql', 'bool', 'MySQL command'],
  ['postgresql', 'bool', 'PostgreSQL query'],
  ['conn', 'bool', 'L4 connection entry (TCP or UDP)'],
  ['flow', 'bool', 'L4 flow entry (TCP or UDP)'],
  ['tcp_conn', 'bool', 'TCP connection entry'],
  ['udp_conn', 'bool', 'UDP connection entry'],
  ['tcp_flow', 'bool', 'TCP flow entry'],
  ['udp_flow', 'bool', 'UDP flow entry'],
]

const HTTP: Row[] = [
  ['method', 'string', 'Request method'],
  ['url', 'string', 'Full URL path and query string'],
  ['path', 'string', 'URL path without the query'],
  ['status_code', 'int', 'Response status code (DNS: rcode)'],
  ['http_version', 'string', '"HTTP/1.1", "HTTP/2"'],
  ['query_string', 'map<string,string>', 'Query parameters parsed from url'],
  ['request.headers', 'map<string,string>', 'Request headers (case-insensitive keys)'],
  ['response.headers', 'map<string,string>', 'Response headers (case-insensitive keys)'],
  ['request.cookies', 'map<string,string>', 'Cookies of the Cookie request header'],
  ['response.cookies', 'map<string,string>', 'Cookies set by Set-Cookie response headers'],
  ['request_headers_size', 'int', 'Request header bytes'],
  ['request_body_size', 'int', 'Request body bytes'],
  ['response_headers_size', 'int', 'Response header bytes'],
  ['response_body_size', 'int', 'Response body bytes'],
]

const GRPC: Row[] = [
  ['grpc_method', 'string', 'Method name, last segment of :path (SayHello)'],
  ['grpc_status', 'int', 'grpc-status of the response (0 / OK when absent)'],
  ['grpc_service', 'string', 'Service part of :path (helloworld.Greeter) (Tapwire addition)'],
  ['grpc_message', 'string', 'grpc-message of the response, percent-decoded (Tapwire addition)'],
]

const DNS: Row[] = [
  ['dns_questions', 'list<string>', 'Queried names'],
  ['dns_answers', 'list<string>', 'Answer records'],
  ['dns_question_types', 'list<string>', 'Question types: A, AAAA, CNAME, MX, TXT, SRV, PTR'],
  ['dns_request', 'bool', 'Entry has a DNS request'],
  ['dns_response', 'bool', 'Entry has a DNS response'],
  ['dns_request_length', 'int', 'Request size in bytes'],
  ['dns_response_length', 'int', 'Response size in bytes'],
  ['dns_total_size', 'int', 'Request plus response size'],
]

const TLS: Row[] = [
  ['tls_summary', 'string', 'Handshake summary ("ClientHello")'],
  ['tls_info', 'string', 'Version and cipher ("TLS 1.3, AES-256-GCM")'],
  ['tls_request_size', 'int', 'Request size in bytes'],
  ['tls_response_size', 'int', 'Response size in bytes'],
  ['tls_total_size', 'int', 'Request plus response size'],
  ['tls_sni', 'string', 'Server name the ClientHello asked for (SNI) (Tapwire addition)'],
  ['tls_alpn', 'list<string>', 'ALPN protocols the client offered (Tapwire addition)'],
  [
    'tls_alpn_selected',
    'string',
    'ALPN protocol the server chose (visible up to TLS 1.2) (Tapwire addition)',
  ],
  ['tls_version', 'string', 'Negotiated version ("TLS 1.3") (Tapwire addition)'],
  [
    'tls_client_versions',
    'list<string>',
    'Versions the client offered (supported_versions) (Tapwire addition)',
  ],
  ['tls_cipher', 'string', 'Negotiated cipher suite name (Tapwire addition)'],
  ['tls_cipher_id', 'int', 'Negotiated cipher suite number (Tapwire addition)'],
  ['tls_ja3', 'string', 'JA3 string of the ClientHello (Tapwire addition)'],
  ['tls_ja3_hash', 'string', 'JA3 fingerprint (MD5 of the JA3 string) (Tapwire addition)'],
  ['tls_ja4', 'string', 'JA4 fingerprint of the ClientHello (Tapwire addition)'],
  ['tls_alert', 'string', 'Alert description sent in the clear ("unknown_ca") (Tapwire addition)'],
  ['tls_alert_code', 'int', 'Alert description number (Tapwire addition)'],
  ['tls_alert_level', 'string', 'Alert level ("fatal", "warning") (Tapwire addition)'],
  ['tls_alert_from', 'string', 'Side that sent the alert ("client", "server") (Tapwire addition)'],
]

const TCP: Row[] = [
  ['tcp_method', 'string', 'TCP entry kind'],
  ['tcp_payload', 'bytes', 'Payload preview'],
  ['tcp_error_type', 'string', 'Error type (reset, timeout...), "" when none'],
  ['tcp_error_message', 'string', 'Error message'],
  [
    'tcp_close_reason',
    'string',
    'How the connection ended (fin, rst, timeout, evicted, flush) (Tapwire addition)',
  ],
  ['tcp_bytes_sent', 'int', 'Payload bytes from the client (Tapwire addition)'],
  ['tcp_bytes_received', 'int', 'Payload bytes from the server (Tapwire addition)'],
]

const UDP: Row[] = [
  ['udp_length', 'int', 'UDP length field'],
  ['udp_checksum', 'int', 'UDP checksum'],
  ['udp_payload', 'bytes', 'Payload preview'],
  ['udp_datagrams_sent', 'int', 'Datagrams from the client (Tapwire addition)'],
  ['udp_datagrams_received', 'int', 'Datagrams from the server (Tapwire addition)'],
]

const SCTP: Row[] = [
  ['sctp_checksum', 'int', 'SCTP checksum'],
  ['sctp_chunk_type', 'string', 'Chunk type'],
  ['sctp_length', 'int', 'Length in bytes'],
]

const ICMP: Row[] = [
  ['icmp_type', 'string', 'Message type'],
  ['icmp_version', 'int', '4 or 6'],
  ['icmp_length', 'int', 'Length in bytes'],
]

const WS: Row[] = [
  ['ws_opcode', 'string', 'text, binary, close, ping, pong'],
  ['ws_request', 'bool', 'Entry has a request frame'],
  ['ws_response', 'bool', 'Entry has a response frame'],
  ['ws_request_payload_data', 'string', 'Request payload (safely truncated)'],
  ['ws_request_payload_length', 'int', 'Request payload length'],
  ['ws_response_payload_length', 'int', 'Response payload length'],
  ['ws_close_code', 'int', 'Close frame status code (Tapwire addition)'],
  ['ws_close_reason', 'string', 'Close frame reason (Tapwire addition)'],
  ['ws_compressed', 'bool', 'Message sent with permessage-deflate (Tapwire addition)'],
]

const GQL: Row[] = [
  ['gql_operation_name', 'string', 'GraphQL operation name (Tapwire addition)'],
  ['gql_operation_type', 'string', 'query, mutation or subscription (Tapwire addition)'],
]

const REDIS: Row[] = [
  ['redis_type', 'string', 'Command verb (GET, SET, DEL, HGET)'],
  ['redis_command', 'string', 'Full command line'],
  ['redis_key', 'string', 'Key (truncated to 64 bytes)'],
  ['redis_request_size', 'int', 'Request size in bytes'],
  ['redis_response_size', 'int', 'Response size in bytes'],
  ['redis_total_size', 'int', 'Request plus response size'],
]

const KAFKA: Row[] = [
  ['kafka_api_key', 'int', 'API key number'],
  ['kafka_api_key_name', 'string', 'API key name (PRODUCE, FETCH)'],
  ['kafka_client_id', 'string', 'Client id'],
  ['kafka_size', 'int', 'Message size'],
  ['kafka_request', 'bool', 'Entry has a request'],
  ['kafka_response', 'bool', 'Entry has a response'],
  ['kafka_request_summary', 'string', 'Request summary / topic'],
  ['kafka_request_size', 'int', 'Request size in bytes'],
  ['kafka_response_size', 'int', 'Response size in bytes'],
  ['kafka_api_version', 'int', 'API version of the request (Tapwire addition)'],
  ['kafka_correlation_id', 'int', 'Correlation id pairing request and response (Tapwire addition)'],
  ['kafka_error_code', 'int', 'First non-zero error code of the response (Tapwire addition)'],
  [
    'kafka_error',
    'string',
    'Name of that error code (TOPIC_AUTHORIZATION_FAILED) (Tapwire addition)',
  ],
]

const AMQP: Row[] = [
  ['amqp_method', 'string', 'Method ("basic.publish", "channel.open")'],
  ['amqp_summary', 'string', 'Summary'],
  ['amqp_request', 'bool', 'Entry has a request'],
  ['amqp_response', 'bool', 'Entry has a response'],
  ['amqp_request_length', 'int', 'Request length'],
  ['amqp_response_length', 'int', 'Response length'],
  ['amqp_total_size', 'int', 'Request plus response size'],
  ['amqp_channel', 'int', 'Channel number (Tapwire addition)'],
  ['amqp_response_method', 'string', 'Reply method ("queue.declare-ok") (Tapwire addition)'],
  ['amqp_exchange', 'string', 'Exchange argument (Tapwire addition)'],
  ['amqp_routing_key', 'string', 'Routing key argument (Tapwire addition)'],
  ['amqp_queue', 'string', 'Queue argument (Tapwire addition)'],
  ['amqp_reply_code', 'int', 'Reply code of close/return methods (Tapwire addition)'],
  ['amqp_reply_text', 'string', 'Reply text of close/return methods (Tapwire addition)'],
  ['amqp_content_type', 'string', 'content-type property of the message (Tapwire addition)'],
]

const LDAP: Row[] = [
  ['ldap_type', 'string', 'Operation type (bind, search...)'],
  ['ldap_summary', 'string', 'Summary'],
  ['ldap_request', 'bool', 'Entry has a request'],
  ['ldap_response', 'bool', 'Entry has a response'],
  ['ldap_request_length', 'int', 'Request length'],
  ['ldap_response_length', 'int', 'Response length'],
  ['ldap_total_size', 'int', 'Request plus response size'],
]

const RADIUS: Row[] = [
  ['radius_code', 'int', 'Packet code'],
  ['radius_code_name', 'string', 'Code name ("Access-Request")'],
  ['radius_request', 'bool', 'Entry has a request'],
  ['radius_response', 'bool', 'Entry has a response'],
  ['radius_request_authenticator', 'string', 'Request authenticator (hex)'],
  ['radius_request_length', 'int', 'Request length'],
  ['radius_response_length', 'int', 'Response length'],
  ['radius_total_size', 'int', 'Request plus response size'],
]

const DIAMETER: Row[] = [
  ['diameter_method', 'string', 'Command'],
  ['diameter_summary', 'string', 'Summary'],
  ['diameter_request', 'bool', 'Entry has a request'],
  ['diameter_response', 'bool', 'Entry has a response'],
  ['diameter_request_length', 'int', 'Request length'],
  ['diameter_response_length', 'int', 'Response length'],
  ['diameter_total_size', 'int', 'Request plus response size'],
]

const MONGODB: Row[] = [
  ['mongodb_command', 'string', 'Command (find, insert, update, delete)'],
  ['mongodb_database', 'string', 'Database'],
  ['mongodb_collection', 'string', 'Collection'],
  ['mongodb_opcode', 'string', 'Wire opcode'],
  ['mongodb_request_size', 'int', 'Request size in bytes'],
  ['mongodb_response_size', 'int', 'Response size in bytes'],
  ['mongodb_total_size', 'int', 'Request plus response size'],
  ['mongodb_success', 'bool', 'Command succeeded'],
  ['mongodb_error_code', 'int', 'Error code'],
  ['mongodb_error_message', 'string', 'Error message'],
  ['mongodb_error_code_name', 'string', 'Error code name'],
]

const MYSQL: Row[] = [
  ['mysql_command', 'string', 'Command (COM_QUERY, COM_STMT_PREPARE)'],
  ['mysql_query', 'string', 'SQL text'],
  ['mysql_database', 'string', 'Database'],
  ['mysql_statement_id', 'int', 'Prepared statement id'],
  ['mysql_request_size', 'int', 'Request size in bytes'],
  ['mysql_response_size', 'int', 'Response size in bytes'],
  ['mysql_total_size', 'int', 'Request plus response size'],
  ['mysql_success', 'bool', 'Command succeeded'],
  ['mysql_error_code', 'int', 'Error code'],
  ['mysql_error_message', 'string', 'Error message'],
]

const POSTGRESQL: Row[] = [
  ['postgresql_command', 'string', 'Command tag (SELECT, INSERT, UPDATE)'],
  ['postgresql_query', 'string', 'SQL text'],
  ['postgresql_database', 'string', 'Database'],
  ['postgresql_user', 'string', 'User'],
  ['postgresql_request_size', 'int', 'Request size in bytes'],
  ['postgresql_response_size', 'int', 'Response size in bytes'],
  ['postgresql_total_size', 'int', 'Request plus response size'],
  ['postgresql_success', 'bool', 'Query succeeded'],
  ['postgresql_error_code', 'string', 'SQLSTATE ("23505"); a string'],
  ['postgresql_error_message', 'string', 'Error message'],
]

// L4 entries (libs/dissectors/src/l4/): local is the client side (src), remote the server (dst);
// counters are cumulative, in frames and wire bytes as tshark's conversation statistics count.
const CONN: Row[] = [
  ['conn_state', 'string', 'open, in_progress (TCP handshake not done), closed'],
  ['conn_local_pkts', 'int', 'Packets sent by the local peer (the client)'],
  ['conn_local_bytes', 'int', 'Bytes sent by the local peer (the client)'],
  ['conn_remote_pkts', 'int', 'Packets sent by the remote peer (the server)'],
  ['conn_remote_bytes', 'int', 'Bytes sent by the remote peer (the server)'],
  ['conn_l7_detected', 'list<string>', 'L7 protocols detected on the connection ("HTTP", "GRPC")'],
  ['conn_group_id', 'int', 'Connection group id: the peer flow it belongs to (its flow_id)'],
]

const FLOW: Row[] = [
  ['flow_state', 'string', 'open (a connection is live), closed'],
  ['flow_local_pkts', 'int', 'Packets sent by the local peer (the client), all connections'],
  ['flow_local_bytes', 'int', 'Bytes sent by the local peer (the client), all connections'],
  ['flow_remote_pkts', 'int', 'Packets sent by the remote peer (the server), all connections'],
  ['flow_remote_bytes', 'int', 'Bytes sent by the remote peer (the server), all connections'],
  ['flow_local_pps', 'double', 'Local packets per second over the report window'],
  ['flow_local_bps', 'double', 'Local bits per second over the report window'],
  ['flow_remote_pps', 'double', 'Remote packets per second over the report window'],
  ['flow_remote_bps', 'double', 'Remote bits per second over the report window'],
  ['flow_l7_detected', 'list<string>', "L7 protocols detected on the flow's connections"],
  ['flow_group_id', 'int', 'Flow group id (its flow_id)'],
]

export const FIELD_CATALOGUE: readonly CatalogueField[] = Object.freeze([
  ...group(undefined, NETWORK),
  ...group(undefined, KUBERNETES),
  ...group(undefined, IDENTITY),
  ...group(undefined, FLAGS),
  ...group('http', HTTP),
  ...group('grpc', GRPC),
  ...group('dns', DNS),
  ...group('tls', TLS),
  ...group('tcp', TCP),
  ...group('udp', UDP),
  ...group('sctp', SCTP),
  ...group('icmp', ICMP),
  ...group('ws', WS),
  ...group('gql', GQL),
  ...group('redis', REDIS),
  ...group('kafka', KAFKA),
  ...group('amqp', AMQP),
  ...group('ldap', LDAP),
  ...group('radius', RADIUS),
  ...group('diameter', DIAMETER),
  ...group('mongodb', MONGODB),
  ...group('mysql', MYSQL),
  ...group('postgresql', POSTGRESQL),
  ...group('conn', CONN),
  ...group('flow', FLOW),
])
