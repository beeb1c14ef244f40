"""A PKCS#11 token over p11-kit's RPC protocol: existing PKCS#11 software drives the device.

``p11-kit-client.so`` (Debian p11-kit-modules) is the PKCS#11 module an application loads; it forwards
every call over a Unix socket to :class:`host_tools.pkcs11.server.Pkcs11Server`, which translates each
into the device's services through the host driver (``host_tools.device``/``client``/``api``), so every
call that reaches the device is one record in its audit trail. ``codec`` is the RPC message format,
``objects`` the key-to-object and mechanism mapping, ``token`` the PKCS#11 semantics, ``server`` the socket.
"""
