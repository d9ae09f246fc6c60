// Golden envelopes made by Java's javax.crypto (SunJCE), run by gen.sh as `java Gen.java`
// (JDK 11+). Writes golden/java-*.enc and golden/java-*.plain.
//
// "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" with no parameters is what most Java clients
// write; SunJCE then uses SHA-256 for OAEP but SHA-1 for MGF1.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;

public class Gen {
    static PublicKey pub;

    public static void main(String[] args) throws Exception {
        String pem = Files.readString(Path.of("TEST-ONLY-rsa2048-public.pem"), StandardCharsets.US_ASCII);
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        pub = KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(b64)));

        byte[] shortPt = Files.readAllBytes(Path.of("plain/short.json"));
        byte[] longPt = Files.readAllBytes(Path.of("plain/long.json"));
        Base64.Encoder std = Base64.getEncoder();

        write("sha256-mgf1sha1-default-short", std.encodeToString(seal(shortPt, "RSA/ECB/OAEPWithSHA-256AndMGF1Padding", null, 190)), shortPt);
        write("sha256-mgf1sha1-default-long", std.encodeToString(seal(longPt, "RSA/ECB/OAEPWithSHA-256AndMGF1Padding", null, 190)), longPt);
        OAEPParameterSpec sha256 = new OAEPParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
        write("sha256-mgf1sha256-long", std.encodeToString(seal(longPt, "RSA/ECB/OAEPPadding", sha256, 190)), longPt);
        write("sha1-mgf1sha1-long", std.encodeToString(seal(longPt, "RSA/ECB/OAEPWithSHA-1AndMGF1Padding", null, 214)), longPt);
        // MIME base64 (CRLF every 76 characters), as older Java clients send it.
        write("sha256-mgf1sha1-default-long-mime", Base64.getMimeEncoder().encodeToString(seal(longPt, "RSA/ECB/OAEPWithSHA-256AndMGF1Padding", null, 190)), longPt);
    }

    static byte[] seal(byte[] pt, String transformation, OAEPParameterSpec spec, int seg) throws Exception {
        Cipher c = Cipher.getInstance(transformation);
        if (spec == null) {
            c.init(Cipher.ENCRYPT_MODE, pub);
        } else {
            c.init(Cipher.ENCRYPT_MODE, pub, spec);
        }
        int blocks = Math.max(1, (pt.length + seg - 1) / seg);
        byte[] out = new byte[blocks * 256];
        for (int i = 0; i < blocks; i++) {
            byte[] block = c.doFinal(Arrays.copyOfRange(pt, i * seg, Math.min((i + 1) * seg, pt.length)));
            System.arraycopy(block, 0, out, i * 256, 256);
        }
        return out;
    }

    static void write(String name, String enc, byte[] pt) throws Exception {
        Files.writeString(Path.of("golden", "java-" + name + ".enc"), enc, StandardCharsets.US_ASCII);
        Files.write(Path.of("golden", "java-" + name + ".plain"), pt);
    }
}
