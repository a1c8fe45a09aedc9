/**
 * Media types for downloads. pcap is IANA-registered (application/vnd.tcpdump.pcap); pcapng has no
 * registration and Wireshark's freedesktop entry uses application/x-pcapng.
 */
export const PCAP_MIME = 'application/vnd.tcpdump.pcap'
export const PCAPNG_MIME = 'application/x-pcapng'
