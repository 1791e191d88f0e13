/*
 * Guest helper of the virtiofs tests (fs-lib.sh builds it static and
 * puts it in the shared directory): file I/O through mmap(), which
 * busybox has no applet for.
 *
 *   fs-mmap cat FILE             the file's bytes, read through a mapping
 *   fs-mmap write FILE OFF LEN TAG
 *                                the pattern of TAG ("TAG\n" repeated) at
 *                                OFF through a shared mapping, then msync
 *   fs-mmap hold FILE            map the file, read it, say "mapped" and
 *                                wait for a line on stdin; then read a byte
 *                                of each page again and say "same",
 *                                "changed" or "sigbus"
 *   fs-mmap seq FILE             read() it all in 1 MiB pieces; says
 *                                "seq ns=N bytes=B"
 *   fs-mmap rand FILE SPAN COUNT [PASSES]
 *                                COUNT reads of 4 KiB at random 4 KiB
 *                                offsets of the first SPAN bytes, through
 *                                a mapping, PASSES (2) times, the same
 *                                offsets each time (the first warms); says
 *                                "rand ns=N count=COUNT faults=F" of the
 *                                last pass, F its page faults (minor and
 *                                major, getrusage()), first_ns= and
 *                                first_faults= of the first, warm_ns= the
 *                                median of the others, total_ns= of all
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
    siglongjmp(bus_jmp, 1);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* A whole decimal or 0x number, or exit: this runs without QEMU's utils */
static size_t parse_size(const char *arg)
{
    unsigned long long v;
    int end = -1;

    if (sscanf(arg, "%lli%n", &v, &end) != 1 || end < 0 || arg[end] ||
        arg[0] == '-') {
        fprintf(stderr, "not a size: '%s'\n", arg);
        exit(1);
    }
    return v;
}

/* Page faults of this process so far, minor and major */
static long faults(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0) {
        die("getrusage");
    }
    return ru.ru_minflt + ru.ru_majflt;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

static char *map_file(const char *path, int flags, int prot, size_t *size)
{
    struct stat st;
    char *p;
    int fd = open(path, flags);

    if (fd < 0 || fstat(fd, &st) < 0) {
        die(path);
    }
    *size = st.st_size;
    if (!*size) {
        fprintf(stderr, "%s: empty\n", path);
        exit(1);
    }
    p = mmap(NULL, *size, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        die("mmap");
    }
    close(fd);
    return p;
}

int main(int argc, char **argv)
{
    size_t size, off, len, i, tlen;
    char *p, *copy, line[64];

    if (argc == 3 && !strcmp(argv[1], "cat")) {
        p = map_file(argv[2], O_RDONLY, PROT_READ, &size);
        for (off = 0; off < size; off += len) {
            ssize_t n;

            len = size - off < 65536 ? size - off : 65536;
            n = write(1, p + off, len);
            if (n <= 0) {
                die("write");
            }
            len = n;
        }
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "write")) {
        p = map_file(argv[2], O_RDWR, PROT_READ | PROT_WRITE, &size);
        off = parse_size(argv[3]);
        len = parse_size(argv[4]);
        tlen = strlen(argv[5]);
        if (off > size || len > size - off) {
            fprintf(stderr, "write past the end of %s\n", argv[2]);
            return 1;
        }
        for (i = 0; i < len; i++) {
            size_t k = i % (tlen + 1);

            p[off + i] = k == tlen ? '\n' : argv[5][k];
        }
        if (msync(p, size, MS_SYNC) < 0) {
            die("msync");
        }
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "hold")) {
        p = map_file(argv[2], O_RDONLY, PROT_READ, &size);
        copy = malloc(size);
        if (!copy) {
            die("malloc");
        }
        memcpy(copy, p, size);
        printf("mapped\n");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin)) {
            return 1;
        }
        struct sigaction sa = { .sa_handler = on_sigbus };

        sigaction(SIGBUS, &sa, NULL);
        if (sigsetjmp(bus_jmp, 1)) {
            printf("sigbus\n");
            return 0;
        }
        for (off = 0; off < size; off += 4096) {
            /* volatile: a load from the window each time, not the cache */
            if (((volatile char *)p)[off] != copy[off]) {
                printf("changed\n");
                return 0;
            }
        }
        printf("same\n");
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "seq")) {
        struct timespec t0, t1;
        size_t total = 0;
        ssize_t n;
        int fd = open(argv[2], O_RDONLY);

        copy = malloc(1 << 20);
        if (fd < 0 || !copy) {
            die(argv[2]);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while ((n = read(fd, copy, 1 << 20)) > 0) {
            total += n;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (n < 0) {
            die("read");
        }
        printf("seq ns=%lld bytes=%zu\n",
               (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
               (t1.tv_nsec - t0.tv_nsec), total);
        return 0;
    }
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "rand")) {
        static char buf[4096];
        unsigned long sum = 0, seed = 1;
        struct timespec t0, t1;
        size_t span, count, pages, passes = 2, pass;
        long long first_ns = 0, total_ns = 0, ns = 0, *pass_ns;
        long f0 = 0, first_faults = 0;

        p = map_file(argv[2], O_RDONLY, PROT_READ, &size);
        span = parse_size(argv[3]);
        count = parse_size(argv[4]);
        if (argc == 6) {
            passes = parse_size(argv[5]);
        }
        if (span > size || span < 4096 || !passes || passes > 100000) {
            fprintf(stderr, "span out of the file, or 0 or too many passes\n");
            return 1;
        }
        pass_ns = calloc(passes, sizeof(*pass_ns));
        if (!pass_ns) {
            die("calloc");
        }
        pages = span / 4096;
        for (pass = 0; pass < passes; pass++) {
            /* The same pages each pass: the later ones find them warm */
            seed = 1;
            f0 = faults();
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (i = 0; i < count; i++) {
                seed = seed * 6364136223846793005UL + 1442695040888963407UL;
                memcpy(buf, p + ((seed >> 33) % pages) * 4096, sizeof(buf));
                sum += buf[i % sizeof(buf)];
            }
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL +
                 (t1.tv_nsec - t0.tv_nsec);
            total_ns += ns;
            pass_ns[pass] = ns;
            if (!pass) {
                first_ns = ns;
                first_faults = faults() - f0;
            }
        }
        /* The median of the passes after the first (the first alone: 1) */
        if (passes > 1) {
            qsort(pass_ns + 1, passes - 1, sizeof(*pass_ns), cmp_ll);
        }
        printf("rand ns=%lld count=%zu faults=%ld first_ns=%lld "
               "first_faults=%ld warm_ns=%lld total_ns=%lld sum=%lu\n",
               ns, count, faults() - f0, first_ns, first_faults,
               pass_ns[passes > 1 ? 1 + (passes - 1) / 2 : 0], total_ns, sum);
        return 0;
    }
    fprintf(stderr, "usage: fs-mmap cat FILE | write FILE OFF LEN TAG | "
            "hold FILE | seq FILE | rand FILE SPAN COUNT [PASSES]\n");
    return 2;
}
