/* net_presets.c — the link preset registry: bandwidth (bytes/s per direction) and one-way
 * latency alpha (s, host to host through one switch, see net.h) of common interconnects.
 * Adding a preset is one entry here. Bandwidths are data rates after line coding; latencies
 * are typical small-message MPI/NCCL-level one-way times, stated as assumptions. */
#include "net.h"

#include <strings.h>

/* 1 Gb/s Ethernet: 1e9 bit/s = 125 MB/s. alpha 50 us: typical kernel-TCP MPI one-way
 * latency on GbE (NetPIPE/OSU latency tests report ~25-60 us). */
static const net_preset preset_1gbe = {
    "1GbE", 1.25e8, 50e-6, "1 Gb/s Ethernet, TCP (alpha 50 us, typical kernel-TCP MPI)"};

/* 10 Gb/s Ethernet: 1.25 GB/s. alpha 10 us: kernel TCP on a 10GbE NIC and one
 * cut-through switch (OSU latency ~8-15 us; 2 x 5 us hops as in the lead's check). */
static const net_preset preset_10gbe = {"10GbE", 1.25e9, 10e-6,
                                        "10 Gb/s Ethernet, TCP (alpha 10 us)"};

/* 25 Gb/s Ethernet: 3.125 GB/s. alpha 5 us: current NICs with busy-polling TCP or RoCE
 * are 2-10 us; 5 us is an assumption in the middle. */
static const net_preset preset_25gbe = {"25GbE", 3.125e9, 5e-6,
                                        "25 Gb/s Ethernet (alpha 5 us, assumed)"};

/* InfiniBand EDR 4x: 4 lanes x 25.78125 Gbaud with 64b/66b coding = 100 Gb/s of data =
 * 12.5 GB/s. alpha 1 us: MPI ping-pong latency of ConnectX-4 EDR through one switch
 * (vendor figures 0.6-1.0 us). */
static const net_preset preset_100gbib = {"100GbIB", 12.5e9, 1e-6,
                                          "100 Gb/s InfiniBand EDR 4x (alpha 1 us)"};

/* PCIe 3.0 x16: 8 GT/s x 16 lanes x 128/130 coding = 15.75 GB/s per direction. alpha 5 us:
 * GPU-to-GPU peer latency through a PCIe switch on K80-class hosts (CUDA sample
 * p2pBandwidthLatencyTest reports a few us; 5 us assumed). */
static const net_preset preset_pcie3x16 = {
    "PCIe3x16", 15.75e9, 5e-6, "PCIe 3.0 x16, 15.75 GB/s per direction (alpha 5 us, assumed)"};

/* NVLink 2.0 on a V100 (SXM2): 6 links x 25 GB/s per direction = 150 GB/s per GPU per
 * direction. The star model gives each GPU one 150 GB/s link to the node router, i.e. the
 * GPU's aggregate NVLink bandwidth (NCCL spreads rings over all links); a single 25 GB/s
 * brick is gpu_bw=25GBps. alpha 2 us assumed (p2pBandwidthLatencyTest on DGX-1: ~2 us). */
static const net_preset preset_nvlink = {
    "NVLink", 150e9, 2e-6, "NVLink 2.0 (V100), 6 x 25 GB/s per direction (alpha 2 us, assumed)"};

/* The registry, NULL-terminated. */
static const net_preset *const registry[] = {
    &preset_1gbe,     &preset_10gbe,  &preset_25gbe, &preset_100gbib,
    &preset_pcie3x16, &preset_nvlink, NULL,
};

const net_preset *const *net_presets(void) {
    return registry;
}

const net_preset *net_preset_find(const char *name) {
    for (size_t i = 0; name && registry[i]; i++)
        if (strcasecmp(registry[i]->name, name) == 0) /* "10gbe" is fine */
            return registry[i];
    return NULL;
}
