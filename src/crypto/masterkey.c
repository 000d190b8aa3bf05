/* masterkey — see masterkey.h. */
#include "crypto/masterkey.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "crypto/rand.h"

#define MASTER_KEY_HEX_LEN (2 * MASTER_KEY_LEN)

static void master_key_set_id(struct master_key *k)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(k->bytes, sizeof(k->bytes), digest);
    hex_encode(digest, MASTER_KEY_ID_LEN / 2, k->id);
}

static enum err master_key_parse(const char *text, size_t len, struct master_key *k)
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    return hex_decode(text, len, k->bytes, MASTER_KEY_LEN);
}

/* Reads or creates <data_dir>/master.key (development only). */
static enum err master_key_dev_file(const struct config *cfg, struct master_key *k, struct buf *msg)
{
    char path[CONFIG_MAX_PATH + 32];
    int n = snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, MASTER_KEY_FILE);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        buf_note(msg, "data directory path too long");
        return ERR_CONFIG;
    }

    char hex[MASTER_KEY_HEX_LEN + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t got = read(fd, hex, sizeof(hex));
        close(fd);
        enum err e = got > 0 ? master_key_parse(hex, (size_t)got, k) : ERR_INVALID;
        explicit_bzero(hex, sizeof(hex));
        if (e) {
            buf_note(msg, "%s does not hold a %d-hex-digit key", path, MASTER_KEY_HEX_LEN);
            return ERR_CONFIG;
        }
        return ERR_OK;
    }
    if (errno != ENOENT) {
        buf_note(msg, "cannot read %s: %s", path, strerror(errno));
        return ERR_CONFIG;
    }

    if (rand_bytes(k->bytes, MASTER_KEY_LEN))
        return ERR_CRYPTO;
    hex_encode(k->bytes, MASTER_KEY_LEN, hex);
    hex[MASTER_KEY_HEX_LEN] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        explicit_bzero(hex, sizeof(hex));
        buf_note(msg, "cannot create %s: %s", path, strerror(errno));
        return ERR_CONFIG;
    }
    ssize_t wrote = write(fd, hex, MASTER_KEY_HEX_LEN + 1);
    explicit_bzero(hex, sizeof(hex));
    if (wrote != MASTER_KEY_HEX_LEN + 1 || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        buf_note(msg, "cannot write %s", path);
        return ERR_CONFIG;
    }
    close(fd);
    log_info("generated development master key", LOG_STR("path", path));
    return ERR_OK;
}

enum err master_key_load(struct config *cfg, struct master_key *out, struct buf *msg)
{
    memset(out, 0, sizeof(*out));
    struct config_secret *secret = &cfg->master_key;
    if (secret->set) {
        struct buf value = BUF_INIT(CONFIG_MAX_SECRET_FILE);
        enum err e = config_secret_get(cfg, secret, &value);
        if (e == ERR_OK)
            e = master_key_parse(buf_cstr(&value), value.len, out);
        buf_wipe(&value);
        if (e) {
            buf_note(msg, "SHIPLOG_MASTER_KEY%s must be %d hex digits (32 bytes)",
                     secret->file ? "_FILE's content" : "", MASTER_KEY_HEX_LEN);
            master_key_wipe(out);
            return ERR_CONFIG;
        }
    } else if (cfg->env == CONFIG_ENV_PRODUCTION) {
        buf_note(msg, "SHIPLOG_ENV=production requires a master key: set SHIPLOG_MASTER_KEY "
                      "(64 hex digits, e.g. from `openssl rand -hex 32`) or "
                      "SHIPLOG_MASTER_KEY_FILE");
        return ERR_CONFIG;
    } else {
        enum err e = master_key_dev_file(cfg, out, msg);
        if (e) {
            master_key_wipe(out);
            return e;
        }
        out->generated_dev_key = true;
    }
    master_key_set_id(out);
    if (out->generated_dev_key)
        log_warn("using the development master key stored in the data directory; set "
                 "SHIPLOG_MASTER_KEY or SHIPLOG_MASTER_KEY_FILE and keep it elsewhere before "
                 "holding real data",
                 LOG_STR("fingerprint", out->id), LOG_STR("dir", cfg->data_dir));
    return ERR_OK;
}

void master_key_wipe(struct master_key *k)
{
    explicit_bzero(k, sizeof(*k));
}
