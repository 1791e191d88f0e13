/*
 * vfio-user server: the listening socket's file
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_REMOTE_VFIO_USER_SOCKET_H
#define HW_REMOTE_VFIO_USER_SOCKET_H

/* The socket file a server created, to remove it when done */
typedef struct VfioUserServerSocketFile {
    char *path;         /* NULL: nothing to remove */
    dev_t dev;
    ino_t ino;
} VfioUserServerSocketFile;

/**
 * vfio_user_server_socket_prepare: make @path free for a listening socket
 *
 * A socket nobody listens on is a leftover of a server that did not
 * clean up: it is removed.  A socket with a listener, or a file that is
 * not a socket, is refused.
 */
bool vfio_user_server_socket_prepare(const char *path, Error **errp);

/* Remember the socket just bound at @path as the server's own. */
void vfio_user_server_socket_created(VfioUserServerSocketFile *file,
                                     const char *path);

/*
 * Remove the server's socket file, unless something else has replaced
 * it since.  Safe to call more than once.
 */
void vfio_user_server_socket_remove(VfioUserServerSocketFile *file);

#endif
