/*
 * replay — runs a fuzz target over every file of a corpus directory once, so
 * the committed corpus is a regression test on any compiler (no libFuzzer
 * needed). Exit status 0 unless a file cannot be read; a crash is a crash.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_FILE ((size_t)4 * 1024 * 1024)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *data = malloc(REPLAY_MAX_FILE);
    if (!data) {
        fclose(f);
        return -1;
    }
    size_t n = fread(data, 1, REPLAY_MAX_FILE, f);
    int bad = ferror(f);
    fclose(f);
    if (!bad)
        LLVMFuzzerTestOneInput(data, n);
    free(data);
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    int files = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path) || replay_file(path) != 0) {
            fprintf(stderr, "cannot read %s\n", e->d_name);
            failed++;
            continue;
        }
        files++;
    }
    closedir(d);
    printf("replayed %d files from %s\n", files, argv[1]);
    return failed || files == 0 ? 1 : 0;
}
