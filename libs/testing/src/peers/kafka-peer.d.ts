/**
 * A single-broker Kafka test peer: just enough of the wire protocol (Kafka protocol guide) for
 * kafkajs's producer to connect, fetch metadata and produce — ApiVersions v0-2, Metadata v0-1,
 * Produce v3. Topics named `forbidden*` answer Produce with TOPIC_AUTHORIZATION_FAILED (29).
 */
export interface KafkaPeer {
    port: number;
    /** Produce requests received, by topic. */
    produced: Map<string, number>;
    close(): Promise<void>;
}
export declare function startKafkaPeer(): Promise<KafkaPeer>;
//# sourceMappingURL=kafka-peer.d.ts.map