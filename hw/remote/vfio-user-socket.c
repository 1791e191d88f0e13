/*
 * vfio-user server: the listening socket's file
 *
 * libvfio-user binds the server's Unix socket at a path and never removes
 * it.  A file left there by a server that died makes the next bind fail,
 * and a server that removes whatever is at its path on exit could remove
 * another server's socket.  So: remove a leftover only when nobody
 * listens on it, and on exit remove only the socket this server created.
 *
 * Copyright (c) 2026 The QEMU fork authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "hw/remote/vfio-user-socket.h"
#include "trace.h"

/* Whether a server listens on the socket at @path; -errno if unknown */
static int vfio_user_server_socket_listened(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd, ret;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(addr.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    /* Non-blocking: a listener with a full backlog answers EAGAIN. */
    ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
        ret = 1;
    } else if (errno == ECONNREFUSED) {
        ret = 0;
    } else {
        ret = -errno;
    }
    close(fd);
    return ret;
}

bool vfio_user_server_socket_prepare(const char *path, Error **errp)
{
    struct stat st;
    int listened;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            return true;
        }
        error_setg_errno(errp, errno, "vfu: Cannot check socket path %s",
                         path);
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        error_setg(errp, "vfu: %s exists and is not a socket", path);
        return false;
    }

    listened = vfio_user_server_socket_listened(path);
    if (listened < 0) {
        error_setg_errno(errp, -listened, "vfu: Cannot check socket %s",
                         path);
        return false;
    }
    if (listened) {
        error_setg(errp, "vfu: Another server listens on %s", path);
        return false;
    }

    if (unlink(path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, errno, "vfu: Cannot remove stale socket %s",
                         path);
        return false;
    }
    trace_vfu_socket_stale_removed(path);
    return true;
}

void vfio_user_server_socket_created(VfioUserServerSocketFile *file,
                                     const char *path)
{
    struct stat st;

    vfio_user_server_socket_remove(file);
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        file->path = g_strdup(path);
        file->dev = st.st_dev;
        file->ino = st.st_ino;
    }
}

void vfio_user_server_socket_remove(VfioUserServerSocketFile *file)
{
    struct stat st;

    if (!file->path) {
        return;
    }
    if (lstat(file->path, &st) == 0 && st.st_dev == file->dev &&
        st.st_ino == file->ino) {
        unlink(file->path);
        trace_vfu_socket_removed(file->path);
    }
    g_free(file->path);
    file->path = NULL;
}
